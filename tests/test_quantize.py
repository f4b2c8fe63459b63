"""studio.quantize: INT8 ONNX export of a real (random-init) UNet-resnet18, calibrated on the
demo dataset version's train images, evaluated on its val split by onnxruntime; real SQLite,
real files, no mocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from studio.errors import InvalidInput
from tests.test_inference import make_dataset, make_version, unet_version


@pytest.fixture(scope="module")
def shelves(module_studio: Path) -> dict[str, Any]:
    dv = make_dataset(module_studio, n_images=6)
    return {"root": module_studio, "dv": dv}


def _folder_files(version: Any) -> set[str]:
    from studio.registry import model_dir

    return {p.name for p in model_dir(version).iterdir()}


def test_int8_export_reports_accuracy_and_speed_and_records_the_file(shelves: dict[str, Any],
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.inference import load_predictor
    from studio.quantize import INT8_FILE, quantize_version
    from studio.registry import get_model, model_dir

    monkeypatch.chdir(tmp_path)  # onnxruntime's calibration must leave nothing in the working folder either
    version = unet_version(shelves["root"], dataset_version_id=shelves["dv"], seed=1)
    seen: list[float] = []
    report = quantize_version(version.name, calibration=3, max_drop=1.0, iters=3,
                              progress=lambda f, m: seen.append(f))
    assert report.accepted and report.metric == "miou" and report.calibration_images == 3
    assert 0.0 <= report.fp32_metric <= 1.0 and 0.0 <= report.int8_metric <= 1.0
    assert report.drop == pytest.approx(report.fp32_metric - report.int8_metric)
    assert report.fp32_ms > 0 and report.int8_ms > 0 and report.provider == "CPU"
    assert report.input_size == (3, 64, 64) and seen[-1] == 1.0
    stored = get_model(version.name)
    assert stored.files["onnx_int8"] == INT8_FILE and Path(report.path) == model_dir(stored) / INT8_FILE
    assert "onnx" not in stored.files  # the fp32 file it exported on the way was temporary
    from studio.registry import downloads

    assert ("onnx_int8", INT8_FILE) in downloads(stored)  # offered with the version's other files
    assert not [n for n in _folder_files(stored) if n.startswith(".")] and list(tmp_path.iterdir()) == []
    # the kept file runs through the predictor like any runtime, with the metadata import reads
    predictor = load_predictor(stored, runtime="onnx_int8", device="cpu")
    image = np.random.default_rng(0).integers(0, 255, (128, 160, 3), dtype=np.uint8)
    assert predictor.predict(image).labels.shape == (128, 160)
    from studio.model_import import read_onnx_metadata

    meta = read_onnx_metadata(Path(report.path))
    assert meta["task"] == "semantic" and meta["int8"]["metric"] == "miou"


def test_a_drop_over_the_threshold_is_refused_and_nothing_is_left(shelves: dict[str, Any]) -> None:
    """A UNet calibrated on one image and held to a zero drop: refused whenever INT8 changes the
    val mIoU at all; either way the version's files and folder are as before."""
    from studio.quantize import QuantizationRefused, quantize_version
    from studio.registry import get_model

    version = unet_version(shelves["root"], dataset_version_id=shelves["dv"], seed=2)
    before = _folder_files(version)
    try:
        report = quantize_version(version.name, calibration=1, max_drop=0.0, iters=2)
    except QuantizationRefused as exc:
        report = exc.report
        assert not report.accepted and report.drop > 0.0 and "refused" in str(exc) and "nothing was kept" in str(exc)
        assert _folder_files(version) == before and "onnx_int8" not in get_model(version.name).files
    else:
        assert report.drop <= 0.0  # INT8 lost nothing: kept


@pytest.mark.parametrize("case, message", [
    ("sequence", "sequence model; INT8 export quantizes image models"),
    ("no_dataset", "records no dataset version to calibrate on"),
    ("bad_calibration", "calibration: expected a number of images >= 1"),
    ("bad_drop", "max_drop: expected a metric drop between 0 and 1"),
])
def test_models_that_cannot_be_quantized_are_refused_with_the_reason(shelves: dict[str, Any], case: str,
                                                                     message: str) -> None:
    from studio.quantize import quantize_version

    root = shelves["root"]
    options: dict[str, Any] = {}
    if case == "sequence":
        version = make_version(root, "sequence", "sign_gru", "", classes=[{"name": "a", "index": 0}],
                               model_kwargs={"input_dim": 12})
    elif case == "no_dataset":
        version = unet_version(root, seed=3)
    else:
        version = unet_version(root, dataset_version_id=shelves["dv"], seed=4)
        options = {"calibration": 0} if case == "bad_calibration" else {"max_drop": -0.1}
    before = _folder_files(version)
    with pytest.raises(InvalidInput, match=message):
        quantize_version(version.name, **options)
    assert _folder_files(version) == before


def test_studio_export_int8_runs_here_and_prints_both_changes(shelves: dict[str, Any]) -> None:
    from tests.test_cli import studio

    version = unet_version(shelves["root"], dataset_version_id=shelves["dv"], seed=6)
    result = studio(shelves["root"], "export", "int8", version.name, "--calibration", "2", "--max-drop", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("miou on val (2 images): fp32 ") and "change " in lines[0]
    assert lines[1].startswith("forward pass (3x64x64, onnxruntime CPU): fp32 ") and "x)" in lines[1]
    assert lines[2].endswith("model.int8.onnx (runtime onnx_int8), recorded on the version")
