"""studio.exporting: ONNX / TorchScript exports of real versions, checked by real onnxruntime."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_inference import make_version, scene, unet_version, yolo_version


@pytest.fixture(scope="module")
def setup(module_studio: Path) -> dict[str, Any]:
    return {"root": module_studio, "unet": unet_version(module_studio)}


def test_onnx_export_is_checked_registered_and_carries_metadata(setup: dict[str, Any]) -> None:
    import onnxruntime as ort

    from studio import model_import, registry
    from studio.exporting import export_onnx
    from studio.inference import load_predictor

    unet = setup["unet"]
    report = export_onnx(unet.name)
    assert report.path == registry.model_dir(unet) / "model.onnx" and report.path.is_file()
    assert not (report.path.parent / "model.onnx.data").exists()  # one self-contained file
    assert report.registered and registry.get_model(unet.id).files["onnx"] == "model.onnx"
    assert 0.0 <= report.max_abs_diff < report.tolerance and report.tolerance >= 1e-3
    assert report.sizes_checked == [(64, 64), (96, 64)] and report.seconds > 0

    meta = model_import.read_onnx_metadata(report.path)
    assert meta["task"] == "semantic" and meta["architecture"] == "unet" and meta["backbone"] == "resnet18"
    assert meta["classes"] == unet.classes and meta["preprocessing"]["image_size"] == 64

    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((3, 3, 160, 96), dtype=np.float32)  # a third, unseen size
    assert session.run(["logits"], {"image": x})[0].shape == (3, 6, 160, 96)

    imported = model_import.import_model(report.path)  # the metadata is enough to register it elsewhere
    assert (imported.task, imported.architecture, imported.backbone) == ("semantic", "unet", "resnet18")
    assert imported.classes == unet.classes
    reference = load_predictor(unet.id, "torch", "cpu").predict(scene(5)).labels
    again = load_predictor(imported.id, "onnx", "cpu").predict(scene(5)).labels
    assert (reference == again).mean() > 0.999  # same preprocessing from the ONNX metadata


def test_yolo_onnx_export_has_dynamic_axes_and_same_objects(setup: dict[str, Any]) -> None:
    from studio.exporting import export_onnx
    from studio.inference import load_predictor

    yolo = yolo_version(setup["root"])
    report = export_onnx(yolo.id)
    assert report.max_abs_diff < report.tolerance and len(report.sizes_checked) == 2
    image = scene(6)
    a = load_predictor(yolo.id, "torch", "cpu").predict(image, conf=0.001, max_det=10)
    b = load_predictor(yolo.id, "onnx", "cpu").predict(image, conf=0.001, max_det=10)
    assert len(a) == len(b)
    if len(a):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
        assert (a.masks == b.masks).mean() > 0.99


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_torchscript_export(setup: dict[str, Any]) -> None:
    import torch

    from studio import registry
    from studio.exporting import export_torchscript

    report = export_torchscript(setup["unet"].id)
    assert report.format == "torchscript" and report.max_abs_diff < report.tolerance
    assert registry.get_model(setup["unet"].id).files["torchscript"] == report.path.name
    loaded = torch.jit.load(str(report.path))
    assert loaded(torch.zeros(1, 3, 64, 96))[0].shape == (1, 6, 64, 96)


@pytest.mark.parametrize("architecture, kwargs", [
    ("sign_transformer", {"input_dim": 12, "emb_dim": 16, "num_heads": 2, "num_layers": 2, "num_categories": 2}),
    ("sign_gru", {"input_dim": 12, "hidden_dim": 8, "num_layers": 2, "num_categories": 2}),
])
def test_sign_models_export_with_a_dynamic_time_axis(setup: dict[str, Any], architecture: str,
                                                     kwargs: dict[str, Any]) -> None:
    from studio.exporting import export_onnx
    from studio.inference import load_predictor

    classes = [{"name": g, "index": i} for i, g in enumerate(["hello", "thanks", "yes"])]
    version = make_version(setup["root"], "sequence", architecture, "", classes=classes, model_kwargs=kwargs)
    report = export_onnx(version.id)  # traced at T = 16, checked at T = 24 with batch 2
    assert report.registered and report.max_abs_diff < report.tolerance

    window = np.random.default_rng(2).standard_normal((40, 12), dtype=np.float32)  # a third length
    torch_out = load_predictor(version.id, "torch", "cpu").predict(window)
    onnx_out = load_predictor(version.id, "onnx", "cpu").predict(window)
    assert set(onnx_out) == {"gloss", "category"} and onnx_out["gloss"].shape == (3,)
    for head in ("gloss", "category"):
        assert np.allclose(onnx_out[head], torch_out[head], atol=1e-5)


def test_failures_are_clear_and_leave_nothing(setup: dict[str, Any], tmp_path: Path) -> None:
    from studio.errors import Conflict, InvalidInput, StudioError
    from studio.exporting import export_onnx
    from studio.inference import load_predictor

    unet = unet_version(setup["root"], seed=3)
    with pytest.raises(StudioError, match=r"ONNX parity check failed: output 'logits' .* differs from PyTorch by "
                                          r"max \|diff\| .* > tolerance"):
        export_onnx(unet.id, rtol=1e-12)
    from studio import registry

    folder = registry.model_dir(unet)
    assert "onnx" not in registry.get_model(unet.id).files and not list(folder.glob("*.onnx*"))
    assert not list(folder.glob(".*tmp"))

    with pytest.raises(InvalidInput, match="check size 100x64: expected multiples of 32 for unet"):
        export_onnx(unet.id, check_sizes=[(100, 64)])
    taken = tmp_path / "elsewhere.onnx"
    taken.write_text("occupied")
    with pytest.raises(Conflict, match="already exists"):
        export_onnx(unet.id, taken)
    report = export_onnx(unet.id, taken, force=True, dynamic=False)
    assert not report.registered and "onnx" not in registry.get_model(unet.id).files  # outside the model folder
    assert report.sizes_checked == [(64, 64)] and not math.isnan(report.max_abs_diff)

    export_onnx(unet.id, check=False, dynamic=False)
    onnx_file = folder / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:1000])  # a truncated file
    with pytest.raises(InvalidInput, match=r"model.onnx: onnxruntime cannot load it \(.+\)"):
        load_predictor(unet.id, runtime="onnx")
