"""Job kinds of model operations: ``evaluate``, ``prelabel``, ``export_model``, ``bench``.

The model export kind is ``export_model``: ``export`` already names the dataset export
(``backend.kinds``). Params (JSON) and results:

=============  ==========================================================  =======================================
kind           params                                                      result
=============  ==========================================================  =======================================
evaluate       model (name | id), dataset_version (id, default: the        evaluation_id, model, summary,
               model's), split ("val"), runtime ("torch"), device;         image_count, seconds
               sequence models: keypoint_dataset (default: the model's),
               dataset_version = its version NUMBER
prelabel       model, dataset, split, min_score (0.5), replace_drafts      PrelabelReport fields
               (true), include_labelled (false), runtime, device
export_model   model, format ("onnx" | "torchscript"), out, opset (17),    ExportReport fields
               dynamic (true), force (false)
bench          model, runtime ("torch" | "onnx"), batch_size (1), size     BenchResult fields + benchmark_id
               ([H, W] or int; default by task), warmup (3), iters (20),   (the stored ModelBenchmark row)
               device
=============  ==========================================================  =======================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backend.kinds import _jsonable, _require, job_kind
from studio.errors import InvalidInput

if TYPE_CHECKING:
    from studio.jobs import JobContext


@job_kind("evaluate")
def evaluate_body(ctx: JobContext) -> dict[str, Any]:
    """Evaluate a model version on a split of a dataset version (studio.evaluation.run)."""
    from studio.evaluation.run import evaluate_version
    from studio.evaluation.views import get_evaluation

    p = ctx.params
    _require(p, "model")
    dv = p.get("dataset_version")
    eval_id = evaluate_version(p["model"], int(dv) if dv is not None else None, p.get("split", "val"),
                               progress=ctx.progress, runtime=p.get("runtime", "torch"), device=p.get("device"),
                               save_predictions=bool(p.get("save_predictions", True)), job_id=ctx.job_id,
                               keypoint_dataset=p.get("keypoint_dataset"))
    view = get_evaluation(eval_id)
    ctx.log(f"evaluation {eval_id} of {view.model} on {view.split}: {view.summary}")
    return {"evaluation_id": eval_id, "model": view.model, "dataset_version_id": view.dataset_version_id,
            "split": view.split, "summary": view.summary, "image_count": view.image_count, "seconds": view.seconds}


@job_kind("prelabel")
def prelabel_body(ctx: JobContext) -> dict[str, Any]:
    """Store a model version's predictions on a dataset as draft annotations (studio.prelabel)."""
    from studio.prelabel import prelabel

    p = ctx.params
    _require(p, "model", "dataset")
    report = prelabel(p["model"], p["dataset"], split=p.get("split"), min_score=float(p.get("min_score", 0.5)),
                      replace_drafts=bool(p.get("replace_drafts", True)),
                      include_labelled=bool(p.get("include_labelled", False)), runtime=p.get("runtime", "torch"),
                      device=p.get("device"), progress=ctx.progress)
    return _jsonable(report)


@job_kind("export_model")
def export_model_body(ctx: JobContext) -> dict[str, Any]:
    """Export a model version to ONNX or TorchScript, parity-checked (studio.exporting)."""
    from studio.exporting import export_onnx, export_torchscript

    p = ctx.params
    _require(p, "model")
    fmt = p.get("format", "onnx")
    ctx.progress(0.05, f"exporting {p['model']} to {fmt}")
    if fmt == "onnx":
        report = export_onnx(p["model"], p.get("out"), opset=int(p.get("opset", 17)),
                             dynamic=bool(p.get("dynamic", True)), force=bool(p.get("force", False)))
    elif fmt == "torchscript":
        report = export_torchscript(p["model"], p.get("out"), force=bool(p.get("force", False)))
    else:
        raise InvalidInput(f"export format {fmt!r}: expected onnx or torchscript")
    ctx.progress(1.0, f"wrote {report.path.name}, max |diff| {report.max_abs_diff:.2g}")
    return _jsonable(report)


@job_kind("bench")
def bench_body(ctx: JobContext) -> dict[str, Any]:
    """Time a model version's forward pass and store a ModelBenchmark row (studio.benchmarking)."""
    from studio.benchmarking import benchmark, store_benchmark

    p = ctx.params
    _require(p, "model")
    size = p.get("size")
    ctx.progress(0.05, f"benchmarking {p['model']} on {p.get('runtime', 'torch')}")
    result = benchmark(p["model"], p.get("runtime", "torch"), batch_size=int(p.get("batch_size", 1)),
                       size=tuple(size) if isinstance(size, list) else size, warmup=int(p.get("warmup", 3)),
                       iters=int(p.get("iters", 20)), device=p.get("device"))
    row = store_benchmark(result.model_version_id, result, job_id=ctx.job_id)
    ctx.progress(1.0, f"{result.latency_mean_ms:.1f} ms per batch of {result.batch_size}")
    return {**_jsonable(result), "benchmark_id": row}
