"""INT8 ONNX export: static quantization calibrated on the version's own training images,
kept only when its accuracy stays within a threshold the user sets.

    report = quantize_version("unet_resnet18_shelves_v1.0.0_20260101", calibration=64, max_drop=0.01)
    report.int8_metric - report.fp32_metric    # mIoU / AP / accuracy change on the split
    report.int8_ms, report.fp32_ms             # forward pass, onnxruntime, same input

What happens
------------
1. The version's fp32 ONNX file (``studio export onnx``; exported into a temporary folder when
   it has none, never recorded) is pre-processed for quantization (shape inference, graph
   optimisation: ``onnxruntime.quantization.quant_pre_process``).
2. ``quantize_static`` (QDQ format, int8 weights per channel, int8 activations, MinMax
   calibration) reads ``calibration`` images of the **train** split of the version's dataset
   version (evenly spread over it), each turned into the network input exactly as
   ``Predictor.preprocess`` does (classifiers: one object crop per image, as evaluation crops
   them).
3. Both files are evaluated on ``split`` (default val) of the same dataset version with the
   evaluation's own scorers (``studio.evaluation.scoring``): mIoU for semantic models, mask AP
   for instance models, accuracy for classifiers; and both are timed (forward pass on one
   preprocessed input at the task's size, interleaved runs, onnxruntime on ``device``).
4. When ``fp32 - int8`` exceeds ``max_drop``, :class:`QuantizationRefused` (a StudioError whose
   message carries the figures, and ``.report``); otherwise the file becomes
   ``<model folder>/model.int8.onnx``, recorded as the version's file of role ``onnx_int8``
   (runtime ``onnx_int8`` of ``studio.inference``). Its metadata keeps the fp32 file's
   ``studio.*`` entries and adds ``studio.int8`` (the report's figures).

A version that cannot be quantized -- a sequence or classical model, no dataset version to
calibrate on, an empty split, an ONNX graph onnxruntime cannot quantize or run -- is refused
with the reason. Nothing is left behind in any refusal: every intermediate file lives in a
temporary folder removed at the end, and the version's files are only changed on success.

Where INT8 pays: onnxruntime's CPU provider runs QDQ convolutions as int8 kernels (VNNI / AVX2);
TensorRT too (int8 engines). The CUDA provider runs most QDQ nodes as dequantize + fp32
kernels, so INT8 is usually *slower* there: the report's speed figure is the one to trust.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import InvalidInput, StudioError
from studio.progress import ProgressFn, null_progress
from studio.tables import ModelVersion, Task

INT8_FILE = "model.int8.onnx"
QUANTIZABLE_TASKS = (Task.semantic.value, Task.instance.value, Task.classification.value)
METRIC_OF_TASK = {Task.semantic.value: "miou", Task.instance.value: "ap", Task.classification.value: "accuracy"}


@dataclass(frozen=True)
class QuantizeReport:
    """What an INT8 export measured and whether it was kept.

    metric: "miou" | "ap" | "accuracy", on ``split`` (``evaluation_images`` images) of dataset
    version ``dataset_version_id``; drop = fp32_metric - int8_metric (positive: INT8 is worse);
    fp32_ms / int8_ms: mean forward pass (onnxruntime, ``provider``) on one input of
    ``input_size``; speedup = fp32_ms / int8_ms; path: the kept file ("" when refused).
    """

    model: str
    accepted: bool
    metric: str
    fp32_metric: float
    int8_metric: float
    drop: float
    max_drop: float
    fp32_ms: float
    int8_ms: float
    speedup: float
    provider: str
    input_size: tuple[int, ...]
    calibration_images: int
    evaluation_images: int
    split: str
    dataset_version_id: int
    path: str = ""
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """Accuracy and speed side by side, for the CLI and logs."""
        return [f"{self.metric} on {self.split} ({self.evaluation_images} images): fp32 {self.fp32_metric:.4f}, "
                f"int8 {self.int8_metric:.4f}, change {-self.drop:+.4f} (allowed drop {self.max_drop:g})",
                f"forward pass ({'x'.join(map(str, self.input_size))}, onnxruntime {self.provider}): fp32 "
                f"{self.fp32_ms:.1f} ms, int8 {self.int8_ms:.1f} ms ({self.speedup:.2f}x)"]


class QuantizationRefused(StudioError):
    """The INT8 file lost more accuracy than allowed; ``report`` has the figures."""

    def __init__(self, report: QuantizeReport) -> None:
        self.report = report
        super().__init__(f"INT8 export of {report.model} refused: {report.metric} drops by {report.drop:.4f} "
                         f"(> --max-drop {report.max_drop:g}); nothing was kept. " + "; ".join(report.lines()))


# --------------------------------------------------------------------------- checks


def check_quantizable(version: ModelVersion) -> None:
    """InvalidInput naming why ``version`` cannot be quantized (task, architecture)."""
    if version.task not in QUANTIZABLE_TASKS:
        raise InvalidInput(f"model {version.name} is a {version.task} model; INT8 export quantizes image models "
                           f"({', '.join(QUANTIZABLE_TASKS)}), calibrated on images of their dataset version")
    if str(version.architecture).startswith("classical"):  # classical_svm / classical_rf (studio.nets.classical)
        raise InvalidInput(f"model {version.name} is a classical {version.architecture} model (features + "
                           "a fitted classifier, no network to quantize); INT8 export quantizes neural networks")


def validate_options(calibration: int, max_drop: float) -> None:
    if isinstance(calibration, bool) or not isinstance(calibration, int) or calibration < 1:
        raise InvalidInput(f"calibration: expected a number of images >= 1, got {calibration!r}")
    if isinstance(max_drop, bool) or not isinstance(max_drop, (int, float)) or not 0.0 <= float(max_drop) <= 1.0:
        raise InvalidInput(f"max_drop: expected a metric drop between 0 and 1 (0.01 = one point of mIoU), "
                           f"got {max_drop!r}")


# --------------------------------------------------------------------------- calibration


def calibration_inputs(predictor: Any, data: Any, count: int) -> list[np.ndarray]:
    """``count`` network inputs from the split ``data`` (evenly spread over its images), made by
    ``predictor.preprocess`` exactly as predictions make them; classifiers get one object crop
    per image (the first non-crowd object, cropped as evaluation does)."""
    from studio import masks
    from studio.images import load_rgb
    from studio.training.data import crop_box

    items = data.items
    picks = np.unique(np.linspace(0, len(items) - 1, num=min(count, len(items))).round().astype(int))
    inputs = []
    for k in picks:
        item = items[int(k)]
        image = load_rgb(item.path)
        if predictor.task == Task.classification.value:
            objects = [rle for _, rle, crowd in item.objects if not crowd]
            if not objects:
                continue
            x0, y0, x1, y1 = crop_box(masks.bbox(objects[0]), image.shape[1], image.shape[0])
            image = np.ascontiguousarray(image[y0:y1, x0:x1])
        inputs.append(np.ascontiguousarray(predictor.preprocess(image), np.float32))
    if not inputs:
        raise InvalidInput(f"no calibration input could be made from split {data.split!r} of {data.label}; "
                           "expected images with accepted objects")
    return inputs


class _Reader:
    """onnxruntime's CalibrationDataReader over prepared inputs (built lazily: the class
    subclasses onnxruntime's, imported only when quantizing)."""

    @staticmethod
    def make(input_name: str, inputs: Sequence[np.ndarray]) -> Any:
        from onnxruntime.quantization import CalibrationDataReader

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._items: Iterator[dict[str, np.ndarray]] = iter([{input_name: x} for x in inputs])

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self._items, None)

        return Reader()


def quantize_file(fp32: Path, out: Path, inputs: Sequence[np.ndarray], work: Path) -> None:
    """Static QDQ quantization of ``fp32`` into ``out`` calibrated on ``inputs`` (network
    inputs); intermediate files in ``work``. StudioError naming onnxruntime's reason when the
    graph cannot be quantized."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = work / "prepared.onnx"
    try:
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    except Exception:  # noqa: BLE001 - pre-processing is an optimisation; quantize the file as it is
        shutil.copyfile(fp32, prepared)
    input_name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name
    try:
        quantize_static(str(prepared), str(out), _Reader.make(input_name, inputs), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"CalibTensorRangeSymmetric": False})
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises many kinds
        reason = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else type(exc).__name__
        raise StudioError(f"onnxruntime could not quantize {fp32.name} ({type(exc).__name__}: {reason}); "
                          "the model cannot be exported to INT8") from None


def _copy_metadata(fp32: Path, int8: Path, extra: dict[str, Any]) -> None:
    """The fp32 file's ``studio.*`` metadata (what ``studio import`` reads) plus ``studio.int8``."""
    import onnx

    from studio.model_import import ONNX_META_PREFIX

    source = onnx.load(str(fp32), load_external_data=False)
    model = onnx.load(str(int8))
    present = {p.key for p in model.metadata_props}
    for prop in source.metadata_props:
        if prop.key.startswith(ONNX_META_PREFIX) and prop.key not in present:
            model.metadata_props.add(key=prop.key, value=prop.value)
    model.metadata_props.add(key=ONNX_META_PREFIX + "int8", value=json.dumps(extra, default=str))
    onnx.save(model, str(int8))


# --------------------------------------------------------------------------- measuring


def _metric(predictor: Any, data: Any, metric: str) -> float:
    from studio.evaluation.scoring import score_classification, score_segmentation

    def quiet(fraction: float, message: str) -> None:
        return None

    if predictor.task == Task.classification.value:
        scores = score_classification(predictor, data, quiet)
    else:
        scores = score_segmentation(predictor, data, quiet, False)
    value = scores.summary.get(metric)
    return float(value) if value is not None else float("nan")


def _timings(predictors: Sequence[Any], x: np.ndarray, iters: int) -> list[float]:
    """Mean ms per forward pass of each predictor on ``x``, runs interleaved so load on the
    machine hits both alike (two warm-up passes each first)."""
    for p in predictors:
        for _ in range(2):
            p.run_network(x)
    times: list[list[float]] = [[] for _ in predictors]
    for _ in range(iters):
        for k, p in enumerate(predictors):
            started = time.perf_counter()
            p.run_network(x)
            p.synchronize()
            times[k].append((time.perf_counter() - started) * 1000.0)
    return [float(np.mean(t)) for t in times]


# --------------------------------------------------------------------------- the export


def quantize_version(ref: str | int | ModelVersion, *, calibration: int = 64, max_drop: float = 0.01,
                     split: str = "val", dataset_version: int | None = None, device: str | None = "cpu",
                     iters: int = 20, progress: ProgressFn | None = None) -> QuantizeReport:
    """Quantize the version to INT8 and keep it when its metric drops by at most ``max_drop``
    (see the module docstring); the report. QuantizationRefused over the threshold,
    InvalidInput / StudioError when it cannot be quantized (nothing is left behind)."""
    from studio.evaluation.data import load_split
    from studio.exporting import export_onnx
    from studio.inference import as_version
    from studio.inference.predictor import predictor_for_file
    from studio.registry import add_file, model_dir

    started = time.perf_counter()
    progress = progress or null_progress
    validate_options(calibration, max_drop)
    version = as_version(ref)
    check_quantizable(version)
    dv_id = dataset_version if dataset_version is not None else version.dataset_version_id
    if dv_id is None:
        raise InvalidInput(f"model {version.name} records no dataset version to calibrate on; pass one "
                           "(--dataset-version N)")
    progress(0.02, f"reading the train and {split} splits of dataset version {dv_id}")
    train = load_split(int(dv_id), "train")
    evaluation = load_split(int(dv_id), split)
    folder = model_dir(version)
    work = folder / f".int8-{uuid.uuid4().hex[:10]}.tmp"
    work.mkdir(parents=True)
    try:
        if "onnx" in version.files and (folder / version.files["onnx"]).is_file():
            fp32 = folder / version.files["onnx"]
        else:
            progress(0.05, "exporting the fp32 ONNX file")
            fp32 = export_onnx(version, work / "model.onnx").path
        reference = predictor_for_file(version, fp32, device)
        progress(0.15, f"preparing {calibration} calibration images")
        inputs = calibration_inputs(reference, train, calibration)
        progress(0.25, f"quantizing with {len(inputs)} calibration inputs")
        candidate = work / INT8_FILE
        quantize_file(fp32, candidate, inputs, work)
        try:
            int8 = predictor_for_file(version, candidate, device)
        except StudioError as exc:
            raise StudioError(f"the INT8 file of {version.name} does not load in onnxruntime ({exc}); "
                              "the model cannot be exported to INT8") from None
        metric = METRIC_OF_TASK[version.task]
        progress(0.45, f"evaluating fp32 on {split}")
        fp32_metric = _metric(reference, evaluation, metric)
        progress(0.65, f"evaluating int8 on {split}")
        int8_metric = _metric(int8, evaluation, metric)
        progress(0.85, "timing both")
        x = reference.example_input(1)
        fp32_ms, int8_ms = _timings([reference, int8], x, iters)
        drop = fp32_metric - int8_metric
        if not np.isfinite(drop):
            drop = 0.0 if np.isnan(fp32_metric) and np.isnan(int8_metric) else float("inf")
        report = QuantizeReport(
            model=version.name, accepted=drop <= max_drop, metric=metric, fp32_metric=fp32_metric,
            int8_metric=int8_metric, drop=float(drop), max_drop=float(max_drop), fp32_ms=fp32_ms, int8_ms=int8_ms,
            speedup=fp32_ms / int8_ms if int8_ms > 0 else float("nan"), provider=int8.provider.split()[-1],
            input_size=tuple(int(s) for s in x.shape[1:]), calibration_images=len(inputs),
            evaluation_images=len(evaluation.items), split=split, dataset_version_id=int(dv_id))
        if not report.accepted:
            raise QuantizationRefused(report)
        target = folder / INT8_FILE
        report = QuantizeReport(**{**asdict(report), "path": str(target),
                                   "seconds": time.perf_counter() - started})
        _copy_metadata(fp32, candidate, {k: v for k, v in asdict(report).items() if k not in ("path", "accepted")})
        candidate.replace(target)
        add_file(version.id, "onnx_int8", target)  # type: ignore[arg-type]
        progress(1.0, f"kept {target.name}: {report.metric} change {-report.drop:+.4f}, {report.speedup:.2f}x")
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)
