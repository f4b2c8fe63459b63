"""Jobs on a model version: ``evaluate``, ``prelabel``, ``export_model`` (``export`` is the
dataset export), ``quantize`` (INT8 ONNX) and ``bench``. ``model`` is a version name or id (``studio models list``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from studio.benchmarking import BenchResult
from studio.errors import InvalidInput
from studio.exporting import ExportReport as ModelExportReport
from studio.jobs.context import JobContext
from studio.jobs.spec import JobSpec, job_kind
from studio.prelabel import PrelabelReport
from studio.quantize import QuantizeReport

Runtime = Literal["torch", "onnx", "onnx_int8"]


def _check_model(kind: str, model: str) -> None:
    if not str(model).strip():
        raise InvalidInput(f"{kind} job: model is empty; expected a version name or id (see `studio models list`)")


def _existing_model(model: str) -> None:
    """NotFound (naming close names) unless the model version exists: checked when queued."""
    from studio.registry import get_model

    get_model(model)


@dataclass(frozen=True)
class EvaluateResult:
    evaluation_id: int
    model: str
    dataset_version_id: int | None
    split: str
    summary: dict[str, Any]  # headline metrics (miou, dice, accuracy, ap ...)
    image_count: int
    seconds: float
    folder: str  # the evaluation's files (CSV, confusion_matrix.png, prediction PNGs)


@job_kind
@dataclass(frozen=True, kw_only=True)
class EvaluateSpec(JobSpec[EvaluateResult]):
    """Score a version on a split of a dataset version (default: the one it was trained on).
    Sequence models: ``dataset_version`` is a version NUMBER of ``keypoint_dataset`` (a keypoint
    dataset, or a raw-frame clip dataset for frame_cnn_gru; default: the model's)."""

    kind: ClassVar[str] = "evaluate"
    result_type: ClassVar[type] = EvaluateResult
    resources: ClassVar[str] = "gpu"

    model: str
    dataset_version: int | None = None
    split: str = "val"
    runtime: Runtime = "torch"
    device: str | None = None  # cpu, cuda, cuda:N; None = STUDIO_DEVICE
    save_predictions: bool = True  # prediction PNGs next to the evaluation (the Evaluate page shows them)
    keypoint_dataset: str | None = None

    def validate(self) -> None:
        _check_model(self.kind, self.model)

    def prepare(self) -> EvaluateSpec:
        _existing_model(self.model)
        return self

    def run(self, ctx: JobContext) -> EvaluateResult:
        from studio.evaluation.run import evaluate_version
        from studio.evaluation.views import get_evaluation

        eval_id = evaluate_version(self.model, self.dataset_version, self.split, progress=ctx.progress,
                                   runtime=self.runtime, device=self.device, save_predictions=self.save_predictions,
                                   job_id=ctx.job_id, keypoint_dataset=self.keypoint_dataset)
        view = get_evaluation(eval_id)
        ctx.log(f"evaluation {eval_id} of {view.model} on {view.split}: {view.summary}")
        return EvaluateResult(evaluation_id=eval_id, model=view.model, dataset_version_id=view.dataset_version_id,
                              split=view.split, summary=dict(view.summary), image_count=view.image_count,
                              seconds=view.seconds, folder=str(view.folder))

    def describe(self) -> str:
        return f"evaluate {self.model} on {self.split}"


@job_kind
@dataclass(frozen=True, kw_only=True)
class PrelabelSpec(JobSpec[PrelabelReport]):
    """A version's predictions on a dataset's images as draft annotations (source ``model:<name>``)."""

    kind: ClassVar[str] = "prelabel"
    result_type: ClassVar[type] = PrelabelReport
    resources: ClassVar[str] = "gpu"

    model: str
    dataset: str
    split: str | None = None  # only images of this split
    min_score: float = 0.5  # drafts need at least this score
    replace_drafts: bool = True  # delete this model's earlier drafts first
    include_labelled: bool = False  # also images that already have accepted annotations
    runtime: Runtime = "torch"
    device: str | None = None

    def validate(self) -> None:
        _check_model(self.kind, self.model)
        if not 0.0 <= self.min_score <= 1.0:
            raise InvalidInput(f"prelabel job min_score: {self.min_score}; expected 0 <= min_score <= 1")

    def prepare(self) -> PrelabelSpec:
        _existing_model(self.model)
        return self

    def run(self, ctx: JobContext) -> PrelabelReport:
        from studio.prelabel import prelabel

        return prelabel(self.model, self.dataset, split=self.split, min_score=self.min_score,
                        replace_drafts=self.replace_drafts, include_labelled=self.include_labelled,
                        runtime=self.runtime, device=self.device, progress=ctx.progress)

    def describe(self) -> str:
        return f"prelabel {self.dataset} with {self.model}"


@job_kind
@dataclass(frozen=True, kw_only=True)
class ExportModelSpec(JobSpec[ModelExportReport]):
    """A version to ONNX (dynamic batch and H/W) or TorchScript, parity-checked against PyTorch."""

    kind: ClassVar[str] = "export_model"
    result_type: ClassVar[type] = ModelExportReport

    model: str
    format: Literal["onnx", "torchscript"] = "onnx"
    out: Path | None = None  # default: the model's folder (recorded on the version)
    opset: int = 17
    dynamic: bool = True
    force: bool = False

    def validate(self) -> None:
        _check_model(self.kind, self.model)

    def prepare(self) -> ExportModelSpec:
        _existing_model(self.model)
        return self

    def run(self, ctx: JobContext) -> ModelExportReport:
        from studio.exporting import export_onnx, export_torchscript

        ctx.progress(0.05, f"exporting {self.model} to {self.format}")
        if self.format == "onnx":
            report = export_onnx(self.model, self.out, opset=self.opset, dynamic=self.dynamic, force=self.force)
        else:
            report = export_torchscript(self.model, self.out, force=self.force)
        ctx.progress(1.0, f"wrote {report.path.name}, max |diff| {report.max_abs_diff:.2g}")
        return report

    def describe(self) -> str:
        return f"export {self.model} to {self.format}"


@dataclass(frozen=True)
class BenchOutcome:
    result: BenchResult
    benchmark_id: int  # the stored ModelBenchmark row


@job_kind
@dataclass(frozen=True, kw_only=True)
class BenchSpec(JobSpec[BenchOutcome]):
    """Time a version's forward pass (latency, FPS, peak memory) and store a ModelBenchmark row."""

    kind: ClassVar[str] = "bench"
    result_type: ClassVar[type] = BenchOutcome
    resources: ClassVar[str] = "gpu"

    model: str
    runtime: Runtime = "torch"
    compile: bool | None = None  # torch runtime: None = STUDIO_COMPILE (auto: compiled on CUDA)
    batch_size: int = 1
    size: int | tuple[int, int] | None = None  # square side or (H, W); None = the version's training size
    warmup: int = 3
    iters: int = 20
    device: str | None = None

    def validate(self) -> None:
        _check_model(self.kind, self.model)
        if self.batch_size < 1 or self.iters < 1 or self.warmup < 0:
            raise InvalidInput(f"bench job: expected batch_size >= 1, iters >= 1, warmup >= 0; got "
                               f"{self.batch_size}, {self.iters}, {self.warmup}")

    def prepare(self) -> BenchSpec:
        _existing_model(self.model)
        return self

    def run(self, ctx: JobContext) -> BenchOutcome:
        from studio.benchmarking import benchmark, store_benchmark

        ctx.progress(0.05, f"benchmarking {self.model} on {self.runtime}")
        result = benchmark(self.model, self.runtime, batch_size=self.batch_size, size=self.size, warmup=self.warmup,
                           iters=self.iters, device=self.device, compile=self.compile)
        row = store_benchmark(result.model_version_id, result, job_id=ctx.job_id)
        ctx.progress(1.0, f"{result.latency_mean_ms:.1f} ms per batch of {result.batch_size} ({result.provider})")
        return BenchOutcome(result=result, benchmark_id=row)

    def describe(self) -> str:
        return f"bench {self.model} on {self.runtime}"


@job_kind
@dataclass(frozen=True, kw_only=True)
class QuantizeSpec(JobSpec[QuantizeReport]):
    """INT8 ONNX export calibrated on the version's train images, kept only when its metric on
    ``split`` drops by at most ``max_drop`` (``studio.quantize``); recorded as role ``onnx_int8``."""

    kind: ClassVar[str] = "quantize"
    result_type: ClassVar[type] = QuantizeReport

    model: str
    calibration: int = 64  # train images that calibrate the activation ranges
    max_drop: float = 0.01  # largest accepted drop of mIoU / AP / accuracy (0.01 = one point)
    split: str = "val"  # where fp32 and INT8 are both evaluated
    dataset_version: int | None = None  # default: the one the model was trained on
    device: str | None = "cpu"  # where onnxruntime runs both (INT8 pays on CPU and TensorRT)

    def validate(self) -> None:
        from studio.quantize import validate_options

        _check_model(self.kind, self.model)
        validate_options(self.calibration, self.max_drop)

    def prepare(self) -> QuantizeSpec:
        from studio.quantize import check_quantizable
        from studio.registry import get_model

        check_quantizable(get_model(self.model))
        return self

    def run(self, ctx: JobContext) -> QuantizeReport:
        from studio.quantize import quantize_version

        report = quantize_version(self.model, calibration=self.calibration, max_drop=self.max_drop, split=self.split,
                                  dataset_version=self.dataset_version, device=self.device, progress=ctx.progress)
        for line in report.lines():
            ctx.log(line)
        return report

    def describe(self) -> str:
        return f"INT8 export of {self.model} (max drop {self.max_drop:g})"
