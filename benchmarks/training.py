"""Training figures: UNet-resnet34 training throughput (images/s) at 256² and 512², the data
pipeline's own throughput (so it is visibly not the bottleneck), and the time per epoch of
the learning test (UNet-resnet18, 18 train images of 256x192 at 128²).

    .venv/bin/python benchmarks/training.py [--quick]

Runs on CUDA with bf16 autocast and channels_last when a GPU is present (as the trainer does),
else on CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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


if __name__ == "__main__":
    main()
