"""Model inference speed: PyTorch eager vs onnxruntime (prints a table; not a test).

    python benchmarks/models.py [--quick] [--iters 20] [--warmup 3] [--batch-size 1]

Models (random init: speed does not depend on the weights): UNet with a ResNet-34 encoder at
512 x 512 (6 output classes) and YOLOv8n-seg at 640 x 640 (5 classes). Each is registered as a
model version in a throw-away studio (a temporary folder, never your database), exported with
``studio.exporting.export_onnx`` (its parity check against PyTorch at the benchmark size and
at half its height gives the "max |diff|" column) and timed with ``studio.benchmarking.benchmark``: the network's forward pass on a
preprocessed batch, ``--warmup`` untimed passes, then ``--iters`` timed ones (``--quick``: 2
and 5). CPU rows always; CUDA rows when torch sees a GPU ("not measured: no device lent"
otherwise). Peak memory: CUDA max_memory_allocated (torch), CPU RSS growth during the run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throwaway import throwaway_studio  # noqa: E402

MODELS = (  # (label, task, architecture, backbone, classes, size)
    ("UNet-resnet34", "semantic", "unet", "resnet34", 5, 512),
    ("YOLOv8n-seg", "instance", "yolov8-seg", "n", 5, 640),
)


def register(root: Path, task: str, architecture: str, backbone: str, n_classes: int, size: int) -> Any:
    """A random-init version of ``architecture`` (checkpoint + preprocessing with image_size=size)."""
    import torch

    from studio import registry
    from studio.nets import create_model, preprocessing

    classes = [{"name": f"class{k}", "index": k, "color": None} for k in range(1, n_classes + 1)]
    torch.manual_seed(0)
    extra = {"names": tuple(c["name"] for c in classes)} if architecture == "yolov8-seg" else {}
    model = create_model(architecture, num_classes=registry.num_outputs(task, classes), backbone=backbone, **extra)
    path = registry.save_checkpoint(root / f"{architecture}.pt", model=model.state_dict())
    prep = {**preprocessing(architecture, backbone), "image_size": size}
    return registry.register_model(task=task, architecture=architecture, backbone=backbone, classes=classes,
                                   dataset="bench", files={"best": path}, preprocessing=prep,
                                   config={"model_kwargs": {}})


def _row(label: str, size: int, result: Any, parity: str) -> str:
    memory = f"{result.peak_memory_mb:8.0f}" if result.peak_memory_mb is not None else f"{'n/a':>8}"
    return (f"{label:14} {result.runtime:6} {result.device[:34]:34} {size}x{size:<5} {result.batch_size:>5} "
            f"{result.latency_mean_ms:9.1f} {result.latency_std_ms:8.1f} {result.latency_p95_ms:8.1f} "
            f"{result.fps:7.2f} {memory} {parity:>11}")


def run(quick: bool = False, warmup: int = 3, iters: int = 20, batch_size: int = 1,
        models: tuple[tuple[str, str, str, str, int, int], ...] = MODELS) -> list[dict[str, Any]]:
    """Print the table; return its rows as dicts (label, runtime, device, ms, fps, parity ...)."""
    if quick:
        warmup, iters = 2, 5
    root = throwaway_studio("studio-bench-")
    import torch

    from studio.benchmarking import benchmark
    from studio.exporting import export_onnx

    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores ({torch.get_num_threads()} threads); "
          f"warmup {warmup}, iters {iters}, batch {batch_size}; forward pass only (no pre/post-processing)")
    header = (f"{'model':14} {'runtime':6} {'device':34} {'input':11} {'batch':>5} {'mean ms':>9} {'std ms':>8} "
              f"{'p95 ms':>8} {'FPS':>7} {'peak MB':>8} {'max |diff|':>11}")
    print(header)
    print("-" * len(header))
    rows: list[dict[str, Any]] = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for label, task, architecture, backbone, n_classes, size in models:
        version = register(root, task, architecture, backbone, n_classes, size)
        started = time.perf_counter()
        report = export_onnx(version.id, check_sizes=[(size, size), (size // 2, size)])
        parity = f"{report.max_abs_diff:.1e}"
        print(f"{label:14} exported to ONNX in {time.perf_counter() - started:.1f} s; parity max |diff| "
              f"{report.max_abs_diff:.2e} (tolerance {report.tolerance:.1e}) on sizes {report.sizes_checked}")
        for device in devices:
            for runtime in ("torch", "onnx"):
                result = benchmark(version.id, runtime, batch_size=batch_size, size=size, warmup=warmup,
                                   iters=iters, device=device)
                print(_row(label, size, result, parity if runtime == "onnx" else ""), flush=True)
                rows.append({"label": label, **result.as_dict(), "parity_max_abs_diff": report.max_abs_diff})
        if "cuda" not in devices:
            for runtime in ("torch", "onnx"):
                print(f"{label:14} {runtime:6} {'cuda':34} {size}x{size:<5} {batch_size:>5}  not measured: no device lent")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="warmup 2, iters 5")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    run(args.quick, args.warmup, args.iters, args.batch_size)


if __name__ == "__main__":
    main()
