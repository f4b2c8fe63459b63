"""Export a model version to ONNX or TorchScript, checked against PyTorch before it counts.

``export_onnx(ref)`` writes ``<model folder>/model.onnx`` (one file: ``torch.onnx.export`` with
``dynamo=False``, so no ``.onnx.data`` beside it) with

- inputs / outputs named as ``studio.inference`` reads them: ``image`` (B, 3, H, W) ->
  ``logits`` (semantic (B, C, H, W), classification (B, C)); YOLO ``image`` (B, 3, H, W) in
  [0, 1] -> ``preds`` (B, 4 + C + 32, A), ``protos`` (B, 32, H/4, W/4); sequence ``x`` (B, T, D)
  -> ``gloss`` (B, G) [, ``category`` (B, K)];
- dynamic axes: batch and H / W (T for sequences) unless ``dynamic=False``;
- metadata (``metadata_props``, JSON values) that ``studio.model_import.import_model`` reads back:
  ``studio.task``, ``studio.classes`` ([{name, index, color}]), ``studio.architecture``,
  ``studio.backbone``, ``studio.preprocessing``, ``studio.model_kwargs``, ``studio.name``,
  ``studio.outputs``.

Parity: the exported file is run by onnxruntime (CPU) on a random input at two sizes (the
second with batch 2 and another H x W, proving the dynamic axes) and compared with the
PyTorch module; the largest absolute difference must stay within ``rtol`` x the output's
scale (max |value|, at least 1), output by output (YOLO boxes and scores separately). A file
that fails is deleted and a StudioError says by how much it missed. Files are written under a
temporary name and renamed when checked; the version's ``files["onnx"]`` is recorded
(``registry.add_file``) when the file lies in the version's folder.

``export_torchscript(ref)`` does the same with ``torch.jit.trace`` (``model.torchscript.pt``,
role ``torchscript``).
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import Conflict, InvalidInput, StudioError
from studio.inference import Network, as_version, load_network, version_preprocessing
from studio.tables import ModelVersion, Task

DEFAULT_RTOL = 1e-3
FILE_NAMES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and how its parity check went.

    max_abs_diff: the largest |exported - PyTorch| over the checked outputs and sizes (NaN
    when ``check=False``); tolerance: the absolute tolerance that output was held to;
    sizes_checked: the (H, W) (or (T, D)) of the checked inputs; registered: recorded as the
    version's file of role ``format``.
    """

    path: Path
    format: str
    max_abs_diff: float
    tolerance: float
    seconds: float
    sizes_checked: list[tuple[int, ...]] = field(default_factory=list)
    registered: bool = False
    model: str = ""


# --------------------------------------------------------------------------- inputs


def _example_inputs(version: ModelVersion, network: Network, dynamic: bool,
                    check_sizes: Sequence[tuple[int, int]] | None = None) -> list[np.ndarray]:
    """Random inputs for tracing (first) and parity (all): image models (1, 3, h, h) then
    (2, 3, h2, h) at multiples of the model's size multiple (h = 64 for most); sequences
    (1, 16, D), (2, 24, D). ``check_sizes``: (H, W) of image inputs to use instead (batch 1)."""
    rng = np.random.default_rng(0)
    prep = version_preprocessing(version)
    if network.input_kind == "keypoints":
        dim = int((version.config.get("model_kwargs") or {}).get("input_dim", 156))
        shapes = [(1, 16, dim), (2, 24, dim)]
        arrays = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    elif network.input_kind == "clip":
        arrays = [rng.standard_normal(s, dtype=np.float32) for s in [(1, 4, 3, 32, 32), (2, 6, 3, 48, 64)]]
    else:
        m = max(int(prep.get("size_multiple") or 1), 32 if version.task == Task.instance.value else 1)
        low = max(int(prep.get("min_size") or 32), 64)
        h1 = -(-low // m) * m
        h2 = -(-(h1 + h1 // 2) // m) * m  # another height, same width: proves the dynamic axes cheaply
        shapes = [(1, 3, h1, h1), (2, 3, h2, h1)]
        if check_sizes:
            for h, w in check_sizes:
                if h % m or w % m:
                    raise InvalidInput(f"check size {h}x{w}: expected multiples of {m} for {version.architecture}")
            shapes = [(1, 3, int(h), int(w)) for h, w in check_sizes]
        if version.task == Task.instance.value:
            arrays = [rng.random(s, dtype=np.float32) for s in shapes]  # YOLO takes [0, 1] pixels
        else:
            arrays = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    return arrays if dynamic else arrays[:1]


def _io_names(version: ModelVersion, network: Network) -> tuple[str, dict[str, dict[int, str]]]:
    """The input name and the dynamic axes of every input and output."""
    if network.input_kind == "keypoints":
        name, axes = "x", {0: "batch", 1: "time"}
    elif network.input_kind == "clip":
        name, axes = "x", {0: "batch", 1: "time", 3: "height", 4: "width"}
    else:
        name, axes = "image", {0: "batch", 2: "height", 3: "width"}
    dynamic: dict[str, dict[int, str]] = {name: axes}
    for out in network.output_names:
        if out == "logits" and version.task == Task.semantic.value:
            dynamic[out] = {0: "batch", 2: "height", 3: "width"}
        elif out == "preds":
            dynamic[out] = {0: "batch", 2: "anchors"}
        elif out == "protos":
            dynamic[out] = {0: "batch", 2: "proto_height", 3: "proto_width"}
        else:
            dynamic[out] = {0: "batch"}
    return name, dynamic


# --------------------------------------------------------------------------- parity


def _parts(name: str, array: np.ndarray) -> dict[str, np.ndarray]:
    """Pieces compared on their own scale: YOLO ``preds`` splits into boxes (pixels) and the rest."""
    if name == "preds" and array.ndim == 3 and array.shape[1] > 4:
        return {"preds (boxes)": array[:, :4], "preds (scores, mask coefficients)": array[:, 4:]}
    return {name: array}


def _parity(reference: Callable[[np.ndarray], list[np.ndarray]], exported: Callable[[np.ndarray], list[np.ndarray]],
            inputs: list[np.ndarray], names: tuple[str, ...], rtol: float, what: str) -> tuple[float, float]:
    """(largest abs diff over all inputs and outputs, the tolerance of that output); StudioError
    when any output exceeds its own tolerance."""
    worst, worst_tol = -1.0, 0.0
    for x in inputs:
        ref, got = reference(x), exported(x)
        if len(ref) != len(got):
            raise StudioError(f"{what} parity check: expected {len(ref)} outputs ({', '.join(names)}), got {len(got)}")
        for name, r, g in zip(names, ref, got):
            if r.shape != g.shape:
                raise StudioError(f"{what} parity check: output {name!r} for input {tuple(x.shape)} has shape "
                                  f"{tuple(g.shape)}; PyTorch gives {tuple(r.shape)}")
            for part, rp in _parts(name, r).items():
                gp = _parts(name, g)[part]
                diff = float(np.abs(rp.astype(np.float64) - gp).max()) if rp.size else 0.0
                scale = max(1.0, float(np.abs(rp).max()) if rp.size else 1.0)
                tol = rtol * scale
                if not np.isfinite(diff) or diff > tol:
                    raise StudioError(f"{what} parity check failed: output {part!r} for input {tuple(x.shape)} differs "
                                      f"from PyTorch by max |diff| {diff:.3g} > tolerance {tol:.3g} "
                                      f"({rtol:g} x output scale {scale:.3g})")
                if diff > worst:
                    worst, worst_tol = diff, tol
    return max(worst, 0.0), worst_tol


def _torch_outputs(module: Any) -> Callable[[np.ndarray], list[np.ndarray]]:
    import torch

    def run(x: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            return [o.float().numpy() for o in module(torch.from_numpy(x))]

    return run


# --------------------------------------------------------------------------- targets


def _target(version: ModelVersion, fmt: str, out: Path | str | None, force: bool) -> tuple[Path, bool]:
    """(path, inside the version's folder). A user path that exists is refused unless ``force``."""
    from studio.registry import model_dir

    folder = model_dir(version)
    path = Path(out) if out is not None else folder / FILE_NAMES[fmt]
    if out is not None and path.exists() and not force and path.resolve() != (folder / FILE_NAMES[fmt]).resolve():
        raise Conflict(f"{path} already exists; pass force=True (--force) to replace it")
    if path.suffix == "" or path.is_dir():
        raise InvalidInput(f"{path}: expected a file name ending in {Path(FILE_NAMES[fmt]).suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, path.parent.resolve() == folder.resolve()


def onnx_metadata(version: ModelVersion, network: Network) -> dict[str, str]:
    """The ``studio.*`` metadata_props written into an exported ONNX file (JSON values)."""
    from studio.model_import import ONNX_META_PREFIX

    values = {"task": version.task, "classes": version.classes, "architecture": version.architecture,
              "backbone": version.backbone or "", "preprocessing": version_preprocessing(version),
              "model_kwargs": version.config.get("model_kwargs") or {}, "name": version.name,
              "outputs": list(network.output_names)}
    return {ONNX_META_PREFIX + k: json.dumps(v, default=str) for k, v in values.items()}


def export_onnx(ref: str | int | ModelVersion, out: Path | str | None = None, *, opset: int = 17, dynamic: bool = True,
                check: bool = True, rtol: float = DEFAULT_RTOL, force: bool = False,
                check_sizes: Sequence[tuple[int, int]] | None = None) -> ExportReport:
    """Export the version to ONNX (see the module docstring); the report of the checked file.

    out: default ``<model folder>/model.onnx`` (re-exporting replaces it); another existing
    path needs ``force``. ``check_sizes``: (H, W) image sizes to trace (the first) and check
    instead of the small defaults, e.g. the size the model will run at. StudioError when the
    export or the parity check fails (nothing is left behind then).
    """
    import onnx
    import torch

    from studio.inference import onnx_session

    started = time.perf_counter()
    version = as_version(ref)
    if _classical(version):
        return _classical_onnx(version, out, check=check, rtol=rtol, force=force, started=started)
    network = load_network(version)
    path, inside = _target(version, "onnx", out, force)
    inputs = _example_inputs(version, network, dynamic, check_sizes)
    input_name, axes = _io_names(version, network)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings and the dynamo=False deprecation notice
            torch.onnx.export(network.module, (torch.from_numpy(inputs[0]),), str(tmp), dynamo=False,
                              opset_version=opset, input_names=[input_name], output_names=list(network.output_names),
                              dynamic_axes=axes if dynamic else None, do_constant_folding=True)
        model = onnx.load(str(tmp))
        for key, value in onnx_metadata(version, network).items():
            prop = model.metadata_props.add()
            prop.key, prop.value = key, value
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
        diff, tol = float("nan"), float("nan")
        if check:
            session = onnx_session(tmp, "cpu")
            outputs = list(network.output_names)

            def exported(x: np.ndarray) -> list[np.ndarray]:
                return [np.asarray(o) for o in session.run(outputs, {input_name: x})]

            diff, tol = _parity(_torch_outputs(network.module), exported, inputs, network.output_names, rtol, "ONNX")
        tmp.replace(path)
    except StudioError:
        raise
    except Exception as exc:  # noqa: BLE001 (torch.onnx / onnx raise many kinds)
        raise StudioError(f"ONNX export of {version.name} failed ({type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0][:240] if str(exc).strip() else ''})") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return _finish(version, "onnx", path, inside, diff, tol, started, inputs)


def export_torchscript(ref: str | int | ModelVersion, out: Path | str | None = None, *, check: bool = True,
                       rtol: float = DEFAULT_RTOL, force: bool = False,
                       check_sizes: Sequence[tuple[int, int]] | None = None) -> ExportReport:
    """``torch.jit.trace`` the version's network to ``<model folder>/model.torchscript.pt``
    (role ``torchscript``), checked like ONNX on two input sizes."""
    import torch

    started = time.perf_counter()
    version = as_version(ref)
    if _classical(version):
        raise InvalidInput(f"{version.name} is a classical model ({version.architecture}: HOG + LBP + colour-histogram "
                           "features with an SVM or a random forest), not a PyTorch network: there is nothing for "
                           "TorchScript to trace. Export it to ONNX instead (studio export onnx "
                           f"{version.name}: the classifier on its features), or use its classical.npz")
    network = load_network(version)
    path, inside = _target(version, "torchscript", out, force)
    inputs = _example_inputs(version, network, True, check_sizes)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(network.module, (torch.from_numpy(inputs[0]),), check_trace=False)
            torch.jit.save(traced, str(tmp))
        diff, tol = float("nan"), float("nan")
        if check:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
                loaded = torch.jit.load(str(tmp), map_location="cpu").eval()
            diff, tol = _parity(_torch_outputs(network.module), _torch_outputs(loaded), inputs,
                                network.output_names, rtol, "TorchScript")
        tmp.replace(path)
    except StudioError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise StudioError(f"TorchScript export of {version.name} failed ({type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0][:240] if str(exc).strip() else ''})") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return _finish(version, "torchscript", path, inside, diff, tol, started, inputs)


def _classical_onnx(version: ModelVersion, out: Path | str | None, *, check: bool, rtol: float, force: bool,
                    started: float) -> ExportReport:
    """A classical version's classifier as ONNX (``features`` (B, F) -> ``probabilities`` (B, K),
    ``ClassicalClassifier.to_onnx``), checked against the numpy arrays on the features of random
    crops; metadata as every export (``studio.input`` = "features": the HOG / LBP / colour
    features are computed before the graph, as ``preprocessing`` says)."""
    from studio.inference import onnx_session
    from studio.inference.classical import classical_model
    from studio.model_import import ONNX_META_PREFIX

    model = classical_model(version)
    path, inside = _target(version, "onnx", out, force)
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (int(rng.integers(24, 96)), int(rng.integers(24, 96)), 3), dtype=np.uint8)
             for _ in range(8)]
    features = model.features(crops)
    values = {"task": version.task, "classes": version.classes, "architecture": version.architecture,
              "backbone": "", "preprocessing": version_preprocessing(version), "model_kwargs": {},
              "name": version.name, "outputs": ["probabilities"], "input": "features"}
    metadata = {ONNX_META_PREFIX + k: json.dumps(v, default=str) for k, v in values.items()}
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        model.to_onnx(tmp, metadata)
        diff, tol = float("nan"), float("nan")
        if check:
            session = onnx_session(tmp, "cpu")
            diff, tol = _parity(lambda x: [model.proba_from_features(x).astype(np.float32)],
                                lambda x: [np.asarray(session.run(["probabilities"], {"features": x})[0])],
                                [features], ("probabilities",), rtol, "ONNX")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return _finish(version, "onnx", path, inside, diff, tol, started, [features])


def _finish(version: ModelVersion, fmt: str, path: Path, inside: bool, diff: float, tol: float, started: float,
            inputs: list[np.ndarray]) -> ExportReport:
    from studio.registry import add_file

    if inside:
        add_file(version.id, fmt, path)  # type: ignore[arg-type]
    sizes = [tuple(int(s) for s in x.shape[-2:]) for x in inputs]
    return ExportReport(path=path, format=fmt, max_abs_diff=diff, tolerance=tol,
                        seconds=time.perf_counter() - started, sizes_checked=sizes, registered=inside,
                        model=version.name)


def _classical(version: ModelVersion) -> bool:
    """A classical (features + SVM / forest) version? Imported here: studio.nets pulls torch in,
    and this module must import cheaply (the job specs of the UI process import it)."""
    from studio.nets.classical import is_classical

    return is_classical(version.architecture)
