"""Register models trained elsewhere: PyTorch weights (state dict or checkpoint dict, loaded
with ``weights_only``) that must fit a studio architecture, or ONNX files (our own exports
carry their task, classes and preprocessing as ``studio.*`` metadata)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput, StudioError
from studio.inference import onnx_session
from studio.registry import check_classes, load_checkpoint, num_outputs, register_model
from studio.tables import ModelVersion, Task

ONNX_META_PREFIX = "studio."  # metadata_props keys written by our ONNX export: studio.task, studio.classes, ...


def _classes_from(value: Any) -> list[dict[str, Any]]:
    """Classes as given on the command line / in a config: names (list or comma string) or dicts."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [{"name": name, "index": i, "color": None} for i, name in enumerate(value)]
    return check_classes(value or [])


def read_onnx_metadata(path: Path) -> dict[str, Any]:
    """The ``studio.*`` metadata of an ONNX file (JSON values decoded); StudioError if the
    file is not a loadable ONNX model."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 (protobuf DecodeError and friends)
        raise StudioError(f"{Path(path).name}: not a loadable ONNX model ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from None
    meta: dict[str, Any] = {}
    for prop in model.metadata_props:
        if prop.key.startswith(ONNX_META_PREFIX):
            try:
                meta[prop.key[len(ONNX_META_PREFIX):]] = json.loads(prop.value)
            except json.JSONDecodeError:
                meta[prop.key[len(ONNX_META_PREFIX):]] = prop.value
    return meta


def import_model(path: Path, *, task: str | None = None, architecture: str | None = None,
                 backbone: str | None = None, classes: Any = None, dataset: str = "external") -> ModelVersion:
    """Register an outside model: a bundle ``.zip`` (``studio.bundles.import_bundle``), a ``.pt`` /
    ``.pth`` (state_dict or checkpoint dict, loaded with weights_only; it must fit ``create_model(architecture, backbone)``) or an ``.onnx``
    (with its ``.onnx.data`` beside it, if any). Missing facts come from the checkpoint's
    ``config`` / the ONNX metadata, else from the arguments; InvalidInput names what is missing."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".zip":  # a bundle written by `studio models bundle`: everything comes from it
        from studio.bundles import import_bundle

        return import_bundle(path)
    if suffix in (".pt", ".pth"):
        checkpoint = load_checkpoint(path)
        config = checkpoint.get("config") if isinstance(checkpoint.get("config"), dict) else {}
        files = {"best": path}
    elif suffix == ".onnx":
        config = read_onnx_metadata(path)
        onnx_session(path, "cpu")  # proves onnxruntime loads it (InvalidInput naming why otherwise)
        files = {"onnx": path}
        data = path.with_name(path.name + ".data")
        if data.is_file():
            files["onnx_data"] = data
    else:
        raise InvalidInput(f"{path.name}: expected a .pt, .pth or .onnx file, or a bundle .zip")
    task = task or config.get("task")
    architecture = architecture or config.get("architecture")
    backbone = backbone if backbone is not None else config.get("backbone", "")
    class_list = _classes_from(classes if classes is not None else config.get("classes"))
    missing = [flag for flag, value in (("--task", task), ("--arch", architecture)) if not value]
    if missing:
        raise InvalidInput(f"{path.name} does not say its {' and '.join(missing)}; pass {' '.join(missing)}")
    try:
        task = Task(task).value
    except ValueError:
        raise InvalidInput(f"task {task!r}: expected one of {', '.join(t.value for t in Task)}") from None
    if suffix != ".onnx":
        check_state_dict_fits(checkpoint["model"], task, architecture, backbone, class_list, config)
    return register_model(task=task, architecture=architecture, backbone=backbone or "", classes=class_list,
                          dataset=dataset, files=files, config={**config, "task": task, "architecture": architecture,
                                                                "backbone": backbone or ""},
                          source="imported", move=False)


def check_state_dict_fits(state_dict: dict[str, Any], task: str, architecture: str, backbone: str | None,
                           classes: list[dict[str, Any]], config: dict[str, Any]) -> None:
    """InvalidInput unless the weights load strictly into ``create_model(architecture, ...)``."""
    from studio.nets import create_model

    kwargs = config.get("model_kwargs") if isinstance(config.get("model_kwargs"), dict) else {}
    model = create_model(architecture, num_classes=num_outputs(task, classes), backbone=backbone or None, **kwargs)
    result = model.load_state_dict(state_dict, strict=False)
    mismatched = [k for k, v in state_dict.items()
                  if k in model.state_dict() and tuple(model.state_dict()[k].shape) != tuple(v.shape)]
    if result.missing_keys or result.unexpected_keys or mismatched:
        raise InvalidInput(
            f"the weights do not fit {architecture} {backbone or ''} with {num_outputs(task, classes)} outputs: "
            f"missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]}, "
            f"wrong shapes {mismatched[:3]}; check --arch, --backbone and --classes")
