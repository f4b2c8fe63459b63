"""Every GPU row of issue 11's table in one run on a bare GPU machine (under 8 minutes), written
as a markdown table (and the rows as JSON beside it).

    python3 benchmarks/gpu.py [--out gpu_figures.md] [--budget 420] [--device cuda] [--quick]

How to run it on the lent GPU machine (its own torch, wheels carried for the rest):
``benchmarks/gpu_machine.md``. Random weights everywhere (speed does not depend on them), one
process, the variants of a row measured side by side in turn.

Rows (the issue's table, top to bottom) and who provides them:

- SAM vit_b / vit_h embedding, batch 1, and the ``embed`` job's throughput:
  ``benchmarks/embedding.py`` (``sam_embedding_rows``, ``embed_job_rows``: the SAM work);
  when that module or function is missing the row says so ("hook: ...").
- UNet-r34 512, DeepLabV3+-r50 512, YOLOv8n-seg 640 (forward, batch 1), UNet-r18 256:
  ``benchmarks/models.py`` (naive peer, studio eager, studio compiled, onnxruntime), in img/s.
- UNet-r18 256 (the live model), per 640x480 camera frame: ``Predictor.predict`` (resize, pad to
  the shape bucket, network, crop, upsample, arg-max), eager and compiled, in ms.
- Live page, two models side by side on a 60 FPS source: ``benchmarks/live.py``
  (``pipeline_rows``: in turn and together), compiled, output FPS.
- Training UNet-r34 512: ``benchmarks/training.py`` (``training_rows(device=, root=)`` when it
  exists: input pipeline, step alone and the real trainer); else the step alone from ``model_throughput`` and a
  hook row for the real trainer.

The hooks' contract: a function returning a list of row dicts ``{"row", "variant", "value",
"unit", "device", "note"}`` (value None = not measured, the note says why), as
``benchmarks/embedding.py`` does.

A section that would not fit in what is left of ``--budget`` seconds is skipped with a row that
says so; a section that fails leaves a row with the error. Nothing here needs the network.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throwaway import throwaway_studio  # noqa: E402

Row = dict[str, Any]
# (section, the seconds it needs at least on an H200, what it measures); run in this order
SECTIONS = ("models", "live_frame", "live_pipeline", "sam", "embed", "training")
NEEDS = {"models": 150, "live_frame": 20, "live_pipeline": 40, "sam": 120, "embed": 60, "training": 40}
ISSUE_ORDER = ("SAM vit_b", "SAM vit_h", "dataset embedding", "UNet-r34 512", "DeepLabV3+-r50 512", "YOLOv8n-seg 640",
               "UNet-r18 256 (live model), batch 1", "UNet-r18 256 (live model), per frame", "Live page",
               "training UNet-r34 512")  # row name prefixes, in the issue's order
MODEL_ROWS = {"unet34": "UNet-r34 512, batch 1", "deeplab50": "DeepLabV3+-r50 512, batch 1",
              "yolo": "YOLOv8n-seg 640, batch 1, forward", "unet18": "UNet-r18 256 (live model), batch 1, forward"}
VARIANT_NAMES = {"naive": "naive peer", "eager": "studio eager", "compiled": "studio compiled",
                 "onnx": "onnxruntime", "int8": "onnxruntime INT8"}


def row(name: str, variant: str, value: float | None, unit: str, device: str, note: str = "") -> Row:
    return {"row": name, "variant": variant, "value": value, "unit": unit, "device": device, "note": note}


def hook(name: str, where: str, device: str) -> Row:
    return row(name, "-", None, "", device, f"hook: {where} (not measured by this run)")


# --------------------------------------------------------------------------- sections


MODEL_KEYS = list(MODEL_ROWS)  # --models narrows it (a smoke run)


def models_section(root: Path, device: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    from benchmarks.models import format_row, measure_model

    iters, rounds = (5, 2) if quick else (30, 3)
    rows = []
    for key in MODEL_KEYS:
        for r in measure_model(key, root, device, ("naive", "eager", "compiled", "onnx"), iters, rounds, log):
            log(format_row(r))
            name = MODEL_ROWS[key]
            if "median_ms" not in r:
                rows.append(row(name, VARIANT_NAMES[r["variant"]], None, "img/s", device, r.get("note", "")))
                continue
            note = r["provider"] + (f"; compile {r['warmup_s']:.0f} s" if r["variant"] == "compiled" else "")
            if r.get("max_rel_diff") is not None and r["variant"] != "naive":
                note += f"; largest difference from the naive output {r['max_rel_diff']:.1e} x its scale"
            rows.append(row(name, VARIANT_NAMES[r["variant"]], r["fps"], "img/s", device, note))
    return rows


def live_frame_section(root: Path, device: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    """UNet-r18 at 256 px on a 640x480 camera frame: Predictor.predict per frame, eager vs compiled."""
    from benchmarks.live import register_unet
    from studio.inference import load_predictor
    from studio.live.video import moving_scene_frames

    frames = list(moving_scene_frames(40, 640, 480))
    ref = register_unet(root, 256, seed=7).name
    rows = []
    for compiled in (False, True):
        predictor = load_predictor(ref, device=device, compile=compiled)
        started = time.perf_counter()
        predictor.warm_up([(480, 640)])
        warm = time.perf_counter() - started
        times = []
        for frame in frames[: 10 if quick else 40]:
            t = time.perf_counter()
            predictor.predict(frame)
            times.append((time.perf_counter() - t) * 1000.0)
        ms = float(np.median(times))
        log(f"UNet-r18 per frame, {'compiled' if compiled else 'eager'}: {ms:.2f} ms ({predictor.provider})")
        rows.append(row("UNet-r18 256 (live model), per frame", "studio compiled" if compiled else "studio eager", ms,
                        "ms", device, f"{predictor.provider}; 640x480 frame, pre/post included; warm-up {warm:.0f} s"))
    return rows


def live_pipeline_section(root: Path, device: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    from benchmarks.live import pipeline_rows, register_unet
    from studio.live.video import moving_scene_frames

    fps = 60.0
    frames = list(moving_scene_frames(int((2 if quick else 4) * fps), 640, 480))
    refs = [register_unet(root, 256, seed).name for seed in (0, 1)]
    rows = []
    for compiled in ((True,) if device.startswith("cuda") else (False,)):
        for r in pipeline_rows(refs, device, frames, fps, compile=compiled):
            how = ("together (threads + CUDA streams)" if device.startswith("cuda") else "together (threads)") \
                if r["concurrent"] else "in turn"
            log(f"live, two models {how}{', compiled' if compiled else ''}: {r['output_fps']:.1f} FPS out of {fps:g}")
            lat = ", ".join(f"{v:.1f}" for v in r["latency_ms"] if v is not None)
            rows.append(row("Live page, two models side by side", f"{how}{', compiled' if compiled else ''}",
                            r["output_fps"], "FPS", device, f"60 FPS source, UNet-r18 256 x 2; model ms {lat}; "
                            f"frame age {r['age_ms']:.1f} ms" if r["age_ms"] is not None else "60 FPS source"))
    return rows


def sam_section(root: Path, device: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    try:
        from benchmarks.embedding import sam_embedding_rows
    except ImportError:
        return [hook(n, "benchmarks/embedding.py has no sam_embedding_rows()", device) for n in SECTION_ROWS["sam"]]
    return list(sam_embedding_rows(("vit_b",) if quick else ("vit_b", "vit_h"), runs=2 if quick else 3,
                                   device=device))


def embed_section(root: Path, device: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    try:
        from benchmarks.embedding import embed_job_rows
    except ImportError:
        return [hook(SECTION_ROWS["embed"][0], "benchmarks/embedding.py has no embed_job_rows()", device)]
    return list(embed_job_rows(n_images=16 if quick else 64, model_type="vit_b", device=device, root=root))


def training_section(root: Path, device: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    import benchmarks.training as training

    name = "training UNet-r34 512"
    if hasattr(training, "training_rows"):
        import inspect

        accepts = inspect.signature(training.training_rows).parameters
        wanted = {"device": device, "root": root, **({"epochs": 1, "n_images": 32} if quick else {})}
        return list(training.training_rows(**{k: v for k, v in wanted.items() if k in accepts}))
    import torch

    steps = 5 if quick else 20
    step = training.model_throughput(512, 16, steps, torch.device(device))
    return [row(name, "step alone (forward + backward + AdamW, batch 16, bf16 autocast)", step, "img/s", device,
                "benchmarks/training.py model_throughput"),
            hook(name, "benchmarks/training.py has no training_rows() for the real trainer", device)]


RUNNERS: dict[str, Callable[[Path, str, bool, Callable[[str], None]], list[Row]]] = {
    "models": models_section, "live_frame": live_frame_section, "live_pipeline": live_pipeline_section,
    "sam": sam_section, "embed": embed_section, "training": training_section}
SECTION_ROWS = {"models": list(MODEL_ROWS.values()), "live_frame": ["UNet-r18 256 (live model), per frame"],
                "live_pipeline": ["Live page, two models side by side"],
                "sam": ["SAM vit_b embedding, batch 1", "SAM vit_h embedding, batch 1"],
                "embed": ["dataset embedding (embed job)"], "training": ["training UNet-r34 512"]}


# --------------------------------------------------------------------------- the table


def markdown(rows: list[Row], header: str) -> str:
    def place(r: Row) -> int:
        return next((k for k, prefix in enumerate(ISSUE_ORDER) if str(r["row"]).startswith(prefix)), len(ISSUE_ORDER))

    ordered = sorted(rows, key=place)  # stable: a section's own order within a row
    lines = [header, "", "| path | variant | figure | notes |", "|---|---|---:|---|"]
    for r in ordered:
        value = r.get("value")
        figure = "not measured" if value is None else f"{value:.1f} {r.get('unit', '')}".strip()
        note = str(r.get("note", "")).replace("|", "/")
        lines.append(f"| {r['row']} | {r.get('variant', '')} | {figure} | {note} |")
    return "\n".join(lines) + "\n"


def run(out: Path, budget: float = 420.0, device: str | None = None, quick: bool = False,
        sections: tuple[str, ...] = SECTIONS, log: Callable[[str], None] = print) -> list[Row]:
    started = time.perf_counter()
    root = throwaway_studio("studio-bench-gpu-")
    import torch

    from studio.device import describe_device, resolve_device

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    name = describe_device(resolve_device(dev))
    log(f"{name}; torch {torch.__version__}; budget {budget:.0f} s")
    rows: list[Row] = []
    for section in sections:
        left = budget - (time.perf_counter() - started)
        need = NEEDS[section] * (0.3 if quick else 1.0)
        if left < need:
            rows += [row(n, "-", None, "", dev, f"skipped: {left:.0f} s of the time budget left, needs ~{need:.0f} s")
                     for n in SECTION_ROWS[section]]
            log(f"[{time.perf_counter() - started:6.1f} s] {section}: skipped (budget)")
            continue
        log(f"[{time.perf_counter() - started:6.1f} s] {section} ...")
        try:
            rows += RUNNERS[section](root, dev, quick, log)
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others' figures
            traceback.print_exc()
            rows += [row(n, "-", None, "", dev, f"failed: {type(exc).__name__}: {str(exc)[:160]}")
                     for n in SECTION_ROWS[section]]
        _write(out, rows, name, torch.__version__, time.perf_counter() - started)  # what is done so far survives
    elapsed = time.perf_counter() - started
    _write(out, rows, name, torch.__version__, elapsed)
    log(f"[{elapsed:6.1f} s] wrote {out}")
    log(markdown(rows, ""))
    return rows


def _write(out: Path, rows: list[Row], device: str, torch_version: str, elapsed: float) -> None:
    header = (f"GPU figures: {device}, torch {torch_version}, {time.strftime('%Y-%m-%d')}; random weights, one run, "
              f"one process ({elapsed:.0f} s). `python3 benchmarks/gpu.py`")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(rows, header))
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_out = Path(os.environ["OUT"]) / "gpu_figures.md" if os.environ.get("OUT") else Path("gpu_figures.md")
    parser.add_argument("--out", type=Path, default=default_out, help="markdown table (JSON beside it)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the whole run")
    parser.add_argument("--device", default=None, help="default cuda when present, else cpu")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and images (a smoke run)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    parser.add_argument("--models", default=",".join(MODEL_ROWS), help=f"comma list of {', '.join(MODEL_ROWS)}")
    args = parser.parse_args()
    MODEL_KEYS[:] = args.models.split(",")
    run(args.out, args.budget, args.device, args.quick, tuple(args.sections.split(",")),
        log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
