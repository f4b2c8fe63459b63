"""Training figures: UNet-resnet34 training throughput (images/s) at 256² and 512², the data
pipeline's own throughput (so it is visibly not the bottleneck), and the time per epoch of
the learning test (UNet-resnet18, 18 train images of 256x192 at 128²).

    .venv/bin/python benchmarks/training.py [--quick]

Runs on CUDA with bf16 autocast and channels_last when a GPU is present (as the trainer does),
else on CPU.

:func:`training_rows` (also printed here; ``benchmarks/gpu.py`` runs it on a GPU machine)
gives the input pipeline side by side, on a demo dataset of 640x480 JPEGs at the training size:

- decoding without the cache (what every run did per image: read, paint the label map from
  RLEs, resize; one process) against building the input cache (a thread pool, once per
  version and size) and reading it back (augmented: rotate + flips + colour jitter);
- the loader's items as a CUDA run's workers make them (uint8 + augmentation parameters: the
  flips, colour jitter and normalisation run on the GPU) and as a CPU run's (finished in the
  worker), in one process and through a DataLoader with persistent workers;
- the training step alone (UNet-resnet34 on random tensors already on the device) against the
  real trainer (``studio.training.loop.train``: cache, loader, augmentation, step, validation)
  in images per second of epoch wall time, and the trainer's data-stall fraction per epoch.

Rows are dicts ``{"row", "variant", "value", "unit", "device", "note"}`` as in
``benchmarks/embedding.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throwaway import throwaway_studio  # noqa: E402


def model_throughput(size: int, batch: int, steps: int, device: torch.device) -> float:
    """Images/s of forward + backward + AdamW step of UNet-resnet34 (random init) on random data."""
    from studio.nets import create_model

    model = create_model("unet", num_classes=6, backbone="resnet34").to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 6, (batch, size, size), device=device)
    if cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    loss_fn = torch.nn.CrossEntropyLoss()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)

    def step() -> None:
        with autocast:
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up (cudnn autotune, allocator)
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def data_throughput(root: Path, size: int, n: int) -> float:
    """Images/s of the training dataset (decode, augment, resize, normalise) in one process."""
    from studio.datasets import ingest_doc, snapshot
    from studio.demo import generate_demo
    from studio.training.data import SegmentationDataset, load_version

    ingest_doc(generate_demo(root / "demo", n_images=n, seed=2), dataset="bench")
    version = load_version("bench", snapshot("bench").version)
    train, _ = version.train_val()
    data = SegmentationDataset(train + _, size, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                               augment={"hflip": 0.5, "rotate": 10.0, "color_jitter": 0.2}, seed=0)
    start = time.perf_counter()
    for i in range(len(data)):
        data[i]
    return len(data) / (time.perf_counter() - start)


Row = dict[str, Any]
AUGMENT = {"hflip": 0.5, "rotate": 10.0, "color_jitter": 0.2}


def _row(name: str, variant: str, value: float | None, unit: str, device: str, note: str = "") -> Row:
    return {"row": name, "variant": variant, "value": value, "unit": unit, "device": device, "note": note}


def _rate(fn: Callable[[], int], one_thread: bool = False) -> float:
    """Items per second of ``fn`` (which returns how many items it handled); ``one_thread``: with
    torch on one thread, as in a loader worker (several threads on tiny per-image tensors only
    wait for each other)."""
    threads = torch.get_num_threads()
    if one_thread:
        torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        n = fn()
        return n / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)


def training_rows(device: str | None = None, *, size: int | None = None, batch: int | None = None,
                  n_images: int | None = None, epochs: int = 3, workers: int | None = None,
                  root: Path | None = None) -> list[Row]:
    """The input pipeline, the step alone and the real trainer (see the module docstring).
    Defaults: on CUDA 512², batch 32, 256 images; on a CPU 256², batch 4, 16 images."""
    import os

    from torch.utils.data import DataLoader

    from studio.config import get_settings
    from studio.datasets import ingest_doc, snapshot
    from studio.demo import generate_demo
    from studio.device import describe_device, resolve_device
    from studio.training.cache import open_input_cache
    from studio.training.config import TrainConfig
    from studio.training.data import EpochItems, EpochShuffle, SegmentationDataset, load_version
    from studio.training.loop import TrainHooks, _worker_count, train
    from studio.training.tasks import prepare

    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    size = size or (512 if cuda else 256)
    batch = batch or (32 if cuda else 4)
    n_images = n_images or (256 if cuda else 16)
    root = root or throwaway_studio("studio-bench-input-")
    label = describe_device(dev)
    os.environ["STUDIO_DEVICE"] = str(dev)
    get_settings.cache_clear()
    ingest_doc(generate_demo(root / "input-demo", n_images=n_images, seed=5), dataset="input")
    version = load_version("input", snapshot("input").version)
    samples = version.samples
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    rows: list[Row] = []
    name = f"training input 640x480 -> {size}²"

    def decode_all() -> int:
        data = SegmentationDataset(samples, size, mean, std)  # no cache: decodes every image here
        for i in range(len(data)):
            data._decode(i)
        return len(data)

    rows.append(_row(name, "decode + label map + resize, no cache (1 thread)", _rate(decode_all, True), "img/s", label,
                     "what every run did for every image"))
    threads = min(16, os.cpu_count() or 1)
    built: dict[str, Any] = {}
    rows.append(_row(name, f"input cache build ({threads} threads)",
                     _rate(lambda: len(built.setdefault("cache", open_input_cache("input", version.version, samples,
                                                                                   size)))),
                     "img/s", label, "once per dataset version and size"))
    cache = built["cache"]
    for side, what in ((False, "finished in the worker (CPU run)"), (True, "uint8 + parameters (CUDA run)")):
        data = SegmentationDataset(samples, size, mean, std, augment=AUGMENT, seed=0, cache=cache, device_side=side)
        data[0]  # first call: albumentations' and torch's lazy set-up
        rows.append(_row(name, f"from the cache, augmented, {what}, 1 thread",
                         _rate(lambda d=data: sum(1 for i in range(len(d)) if d[i] is not None), True), "img/s", label,
                         "rotate in albumentations; flips + colour jitter + normalise: "
                         + ("on the GPU" if side else "here")))
    count = workers if workers is not None else _worker_count(TrainConfig(num_workers=-1), dev)
    if count:
        data = SegmentationDataset(samples, size, mean, std, augment=AUGMENT, seed=0, cache=cache, device_side=cuda)
        sampler = EpochShuffle(len(data), 0, tag_epoch=True)
        loader = DataLoader(EpochItems(data), batch_size=batch, sampler=sampler, num_workers=count,
                            persistent_workers=True, pin_memory=cuda, prefetch_factor=4)

        def one_epoch(epoch: int) -> int:
            sampler.set_epoch(epoch)
            return sum(len(b[0]) for b in loader)

        one_epoch(0)  # workers start
        rows.append(_row(name, f"DataLoader, {count} persistent workers, from the cache", _rate(lambda: one_epoch(1)),
                         "img/s", label, f"batch {batch}, pinned memory" if cuda else f"batch {batch}"))
        del loader

    step = model_throughput(size, batch, 3 if not cuda else 20, dev)
    rows.append(_row(f"training UNet-r34 {size}², batch {batch}", "step alone", step, "img/s", label,
                     "forward + backward + AdamW on tensors already on the device"
                     + (" (bf16 autocast, channels_last)" if cuda else "")))
    config = TrainConfig(architecture="unet", backbone="resnet34", dataset="input", dataset_version=version.version,
                         epochs=epochs, batch_size=batch, image_size=size, augment=AUGMENT, device=str(dev),
                         num_workers=-1 if workers is None else workers)
    setup = prepare(config)
    lines: list[str] = []
    result = train(config, setup, root / "runs" / "bench-input", TrainHooks(log=lines.append), resume=False)
    later = result.history[1:] or result.history
    per_epoch = len(setup.train_set) // batch * batch
    trainer = sum(per_epoch / r.seconds for r in later) / len(later)
    stalls = ", ".join(f"{r.data_stall:.0%}" for r in result.history)
    rows.append(_row(f"training UNet-r34 {size}², batch {batch}", "real trainer", trainer, "img/s", label,
                     f"train images per second of epoch wall time (validation included), epochs 2+; "
                     f"{len(setup.train_set)} train / {len(setup.val_set)} val images"))
    rows.append(_row(f"training UNet-r34 {size}², batch {batch}", "data stall per epoch",
                     later[-1].data_stall, "share", label, f"epochs 1..{len(result.history)}: {stalls}"))
    return rows


def print_rows(rows: list[Row]) -> None:
    print(f"{'row':40} {'variant':72} {'value':>9} {'unit':6} note")
    for r in rows:
        value = "not measured" if r["value"] is None else f"{r['value']:9.2f}"
        print(f"{r['row']:40} {r['variant']:72} {value:>9} {r['unit']:6} {r['note']}", flush=True)


def learning_test_epoch(root: Path, epochs: int) -> float:
    """Seconds per epoch of the learning test's configuration (tests/training/test_runs.py)."""
    from studio.datasets import ingest_doc, snapshot
    from studio.demo import generate_demo
    from studio.training.config import TrainConfig
    from studio.training.run import run_training

    ingest_doc(generate_demo(root / "learn", n_images=24, seed=1, width=256, height=192), dataset="learn")
    config = TrainConfig(architecture="unet", backbone="resnet18", dataset="learn",
                         dataset_version=snapshot("learn").version, epochs=epochs, batch_size=4, image_size=128,
                         num_workers=0, lr=5e-3, augment={"hflip": 0.5})
    outcome = run_training(config, "bench-learn", register=False)
    return sum(r.seconds for r in outcome.result.history) / len(outcome.result.history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    args = parser.parse_args()
    root = throwaway_studio("studio-bench-train-")
    from studio.device import describe_device, resolve_device

    device = resolve_device("auto")
    steps = 2 if args.quick else 5
    print(f"device: {describe_device(device)}")
    print(f"{'what':<44}{'value':>14}")
    for size, batch in ((256, 8), (512, 4)):
        if device.type == "cuda":
            batch *= 8
        ips = model_throughput(size, batch, steps, device)
        print(f"{f'UNet-resnet34 train {size}² batch {batch}':<44}{ips:>10.1f} img/s")
    if device.type != "cuda":
        print(f"{'UNet-resnet34 train 512² on GPU (AMP)':<44}{'not measured: no device lent':>14}")
    print(f"{'data pipeline 640x480 -> 512² (1 process)':<44}{data_throughput(root, 512, 12):>10.1f} img/s")
    per_epoch = learning_test_epoch(root, 2 if args.quick else 4)
    print(f"{'learning test: seconds per epoch':<44}{per_epoch:>12.2f} s")
    print()
    rows = training_rows(epochs=2 if args.quick else 3, n_images=8 if args.quick else None)
    if device.type != "cuda":
        rows.append(_row("training input and trainer on CUDA", "all variants", None, "", "cuda",
                         "not measured: no device lent"))
    print_rows(rows)


if __name__ == "__main__":
    main()
