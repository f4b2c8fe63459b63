"""Model inference speed, side by side: a plain fp32 script (the naive peer), the studio's eager
and compiled torch runtimes, onnxruntime fp32 and INT8 (prints a table; not a test).

    python benchmarks/models.py [--quick] [--device cpu|cuda] [--models unet34,deeplab50,yolo,unet18]
                                [--variants naive,eager,compiled,onnx,int8] [--iters 20] [--rounds 3]

Models (random init: speed does not depend on the weights), batch 1, forward pass only (the
network on an already preprocessed input; no resize, NMS or mask upsampling):

=============  ===========================================  ======
key            model                                        input
=============  ===========================================  ======
unet34         UNet, ResNet-34 encoder, 6 outputs           512²
deeplab50      DeepLabV3+, ResNet-50 encoder, 6 outputs     512²
yolo           YOLOv8n-seg, 5 classes                       640²
unet18         UNet, ResNet-18 (the live page's model)      256²
=============  ===========================================  ======

Variants, each on the same input:

- ``naive``: what a plain script does: the architecture's nn.Module in eval mode under
  ``torch.no_grad()``, float32 (YOLO on CUDA: ultralytics' fused fp16, its own fast path);
- ``eager``: ``studio.inference`` torch runtime, not compiled (CUDA: bf16 autocast, channels_last);
- ``compiled``: the same with ``studio.inference.compiled`` (CUDA: bf16 weights + CUDA graphs;
  CPU: weight freezing); its compile time is the "warm-up s" column;
- ``onnx``: onnxruntime on the exported file (``studio.exporting.export_onnx``), the provider
  it actually ran on in the "provider" column;
- ``int8``: onnxruntime on the INT8 file (``studio.quantize.quantize_file``, calibrated on a few
  random inputs: a speed figure only; accuracy is what ``studio export int8`` measures).

Timing: each variant warms up (2 passes; compiled: until compiled), then ``--rounds`` rounds of
``--iters`` passes run the variants in turn (A B C, A B C, ...), so load on a shared machine
falls on all alike; "median ms" is the median pass over all rounds, "p95 ms" its 95th
percentile; "CPU ms" the median CPU time of the process per pass (all threads: the work done,
which a busy shared machine inflates less than the wall clock). "max |diff|" is the largest
difference from the naive peer's output, relative to that output's largest value (bf16 / INT8
differ by design). The studio used is a throw-away
folder, never your database.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throwaway import throwaway_studio  # noqa: E402

MODELS = {  # key: (label, task, architecture, backbone, classes, size)
    "unet34": ("UNet-r34 512", "semantic", "unet", "resnet34", 5, 512),
    "deeplab50": ("DeepLabV3+-r50 512", "semantic", "deeplabv3plus", "resnet50", 5, 512),
    "yolo": ("YOLOv8n-seg 640", "instance", "yolov8-seg", "n", 5, 640),
    "unet18": ("UNet-r18 256 (live)", "semantic", "unet", "resnet18", 5, 256),
}
VARIANTS = ("naive", "eager", "compiled", "onnx", "int8")
Row = dict[str, Any]


def register(root: Path, task: str, architecture: str, backbone: str, n_classes: int, size: int) -> Any:
    """A random-init version of ``architecture`` (checkpoint + preprocessing with image_size=size)."""
    import torch

    from studio import registry
    from studio.nets import create_model, preprocessing

    classes = [{"name": f"class{k}", "index": k, "color": None} for k in range(1, n_classes + 1)]
    torch.manual_seed(0)
    extra = {"names": tuple(c["name"] for c in classes)} if architecture == "yolov8-seg" else {}
    model = create_model(architecture, num_classes=registry.num_outputs(task, classes), backbone=backbone, **extra)
    path = registry.save_checkpoint(root / f"{architecture}-{backbone}-{size}.pt", model=model.state_dict())
    prep = {**preprocessing(architecture, backbone), "image_size": size}
    return registry.register_model(task=task, architecture=architecture, backbone=backbone, classes=classes,
                                   dataset="bench", files={"best": path}, preprocessing=prep,
                                   config={"model_kwargs": {}})


def _sync(device: Any) -> None:
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        torch.cuda.synchronize()


def naive_peer(version: Any, device: Any) -> tuple[Callable[[Any], Any], str]:
    """(forward of a plain script's model, what it is): float32 eager nn.Module under no_grad
    (YOLO on CUDA: fused fp16, as ultralytics runs it)."""
    import torch

    from studio.inference.network import load_network

    module = load_network(version).module.to(device).eval()
    what = "plain fp32 eager"
    dtype = torch.float32
    if version.task == "instance" and device.type == "cuda":
        module.net.fuse()  # ultralytics' conv + batch-norm fusion
        module, dtype, what = module.half(), torch.float16, "fused fp16 eager"

    def forward(x: Any) -> Any:
        with torch.no_grad():
            return module(x.to(dtype))

    return forward, what


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, (tuple, list)) else out


def measure_model(key: str, root: Path, device_name: str, variants: tuple[str, ...], iters: int, rounds: int,
                  log: Callable[[str], None] = print) -> list[Row]:
    """The variants of one model (see the module docstring); one row dict per variant."""
    import torch

    from studio import registry
    from studio.device import resolve_device
    from studio.exporting import export_onnx
    from studio.inference import load_predictor

    label, task, architecture, backbone, n_classes, size = MODELS[key]
    device = resolve_device(device_name)
    version = register(root, task, architecture, backbone, n_classes, size)
    example = load_predictor(version, device=device_name, compile=False).example_input(1, (size, size))
    x_device = torch.from_numpy(example).to(device)
    runs: dict[str, tuple[Callable[[], Any], str, float]] = {}  # variant: (one pass, provider, warm-up s)
    notes: dict[str, str] = {}
    for variant in variants:
        started = time.perf_counter()
        try:
            if variant == "naive":
                forward, what = naive_peer(version, device)

                def one_pass(forward: Any = forward) -> Any:
                    out = forward(x_device)
                    _sync(device)
                    return out

                provider = what
            elif variant in ("eager", "compiled"):
                predictor = load_predictor(version, device=device_name, compile=variant == "compiled")

                def one_pass(predictor: Any = predictor) -> Any:
                    out = predictor.run_network(x_device)
                    predictor.synchronize()
                    return out

                provider = ""
            else:
                if "onnx" not in registry.get_model(version.id).files:
                    export_onnx(version.id, check_sizes=[(size, size)])
                if variant == "int8":
                    from studio.quantize import INT8_FILE, quantize_file

                    folder = registry.model_dir(version)
                    work = folder / ".int8-bench"
                    work.mkdir(exist_ok=True)
                    rng = np.random.default_rng(1)
                    calibration = [rng.standard_normal(example.shape).astype(np.float32) if task != "instance"
                                   else rng.random(example.shape, dtype=np.float32) for _ in range(4)]
                    quantize_file(folder / registry.get_model(version.id).files["onnx"], folder / INT8_FILE,
                                  calibration, work)
                    registry.add_file(version.id, "onnx_int8", folder / INT8_FILE)
                predictor = load_predictor(version.id, runtime="onnx" if variant == "onnx" else "onnx_int8",
                                           device=device_name)

                def one_pass(predictor: Any = predictor) -> Any:
                    return predictor.run_network(example)

                provider = ""
            one_pass()
            one_pass()
            if variant != "naive":
                provider = predictor.provider
            runs[variant] = (one_pass, provider, time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - a variant that cannot run is a row that says why
            notes[variant] = f"not measured: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
            log(f"{label}: {variant} {notes[variant]}")
    reference = None
    if "naive" in runs:
        reference = _first(runs["naive"][0]()).float().cpu()
    times: dict[str, list[float]] = {v: [] for v in runs}
    cpu: dict[str, list[float]] = {v: [] for v in runs}
    for _ in range(rounds):
        for variant, (one_pass, _, _) in runs.items():
            for _ in range(iters):
                started, cpu_started = time.perf_counter(), time.process_time()
                one_pass()
                times[variant].append((time.perf_counter() - started) * 1000.0)
                cpu[variant].append((time.process_time() - cpu_started) * 1000.0)
    rows: list[Row] = []
    naive_ms = float(np.median(times["naive"])) if "naive" in times else None
    for variant in variants:
        if variant not in runs:
            rows.append({"model": label, "key": key, "variant": variant, "device": device_name,
                         "note": notes.get(variant, "")})
            continue
        one_pass, provider, warm = runs[variant]
        ms = np.asarray(times[variant])
        diff = None
        if reference is not None:
            out = _first(one_pass()).float().cpu()
            if out.shape == reference.shape:
                scale = max(1.0, float(reference.abs().max()))
                diff = float((out - reference).abs().max()) / scale
        median = float(np.median(ms))
        rows.append({"model": label, "key": key, "variant": variant, "device": device_name, "provider": provider,
                     "median_ms": median, "p95_ms": float(np.percentile(ms, 95)), "fps": 1000.0 / median,
                     "cpu_ms": float(np.median(cpu[variant])),
                     "warmup_s": warm, "max_rel_diff": diff,
                     "vs_naive": (naive_ms / median) if naive_ms else None, "note": ""})
    return rows


def format_row(r: Row) -> str:
    if "median_ms" not in r:
        return f"{r['model']:20} {r['variant']:9} {r['device']:5} {r.get('note', '')}"
    diff = f"{r['max_rel_diff']:.1e}" if r.get("max_rel_diff") is not None else "-"
    vs = f"{r['vs_naive']:.2f}x" if r.get("vs_naive") else "-"
    return (f"{r['model']:20} {r['variant']:9} {r['device']:5} {r['provider'][:52]:52} {r['median_ms']:9.2f} "
            f"{r['p95_ms']:8.2f} {r['cpu_ms']:8.1f} {r['fps']:8.1f} {vs:>8} {r['warmup_s']:9.1f} {diff:>10}")


HEADER = (f"{'model':20} {'variant':9} {'dev':5} {'provider':52} {'median ms':>9} {'p95 ms':>8} {'CPU ms':>8} "
          f"{'FPS':>8} {'vs naive':>8} {'warm-up s':>9} {'max |diff|':>10}")


def run(quick: bool = False, device: str | None = None, models: tuple[str, ...] = tuple(MODELS),
        variants: tuple[str, ...] = VARIANTS, iters: int = 20, rounds: int = 3,
        log: Callable[[str], None] = print) -> list[Row]:
    """Print the table for ``device`` (default: every device here, CPU then CUDA); the rows."""
    if quick:
        iters, rounds = 5, 2
    root = throwaway_studio("studio-bench-models-")
    import torch

    devices = [device] if device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    log(f"torch {torch.__version__}, {os.cpu_count()} CPU cores ({torch.get_num_threads()} threads); batch 1, "
        f"forward pass only; {rounds} rounds x {iters} passes per variant, variants in turn")
    log(HEADER)
    log("-" * len(HEADER))
    rows: list[Row] = []
    for dev in devices:
        for key in models:
            for r in measure_model(key, root, dev, variants, iters, rounds, log):
                rows.append(r)
                log(format_row(r))
    if "cuda" not in devices and device is None:
        log(f"{'every model':20} {'all':9} cuda  not measured: no GPU here")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 passes")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: both where present)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.quick, args.device, tuple(args.models.split(",")), tuple(args.variants.split(",")), args.iters,
        args.rounds)


if __name__ == "__main__":
    main()
