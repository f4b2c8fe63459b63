"""studio.model_import: outside models are registered only when they load and fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import model_import
from studio.errors import InvalidInput, StudioError


def test_onnx_that_does_not_load_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a model")
    with pytest.raises(StudioError, match="model.onnx"):
        model_import.import_model(bad, task="semantic", architecture="unet", classes="box,can")
    with pytest.raises(InvalidInput, match="expected a .pt, .pth or .onnx"):
        model_import.import_model(tmp_path / "weights.bin")
