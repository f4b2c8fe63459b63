"""Predictors of classical versions (``classical_svm`` / ``classical_rf``: studio.nets.classical),
with the same interface as every other ``Predictor``, so evaluation, comparison, benchmarks and
pre-labelling take them as they are.

What runs: the crop is resized to the version's ``image_size`` squared (aspect not kept, as in
training), its HOG + LBP + colour-histogram features are computed (``batch_features``), and the
classifier turns them into probabilities:

- runtime "torch" (the studio's own runtime): the fitted arrays in numpy
  (``ClassicalClassifier.proba_from_features``), loaded from the version's ``classical.npz``
  with ``allow_pickle=False``;
- runtime "onnx": the version's ``model.onnx`` (written by ``studio export onnx``: features ->
  probabilities) in onnxruntime, the features computed the same way before it.

The "network" of a classical predictor takes ``(B, 3, S, S)`` pixels (0-255, any dtype; values
are clipped and rounded to uint8) and returns ``(log_probs,)``: the log of the probabilities, so
``softmax`` (what ``Predictor`` applies to classifier outputs) gives the probabilities back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from studio.errors import InvalidInput, NotFound
from studio.inference.outputs import ClassOutput, Output
from studio.inference.predictor import Predictor
from studio.tables import ModelVersion

CLASSICAL_RUNTIMES = ("torch", "onnx")


def classical_model(version: ModelVersion) -> Any:
    """The version's fitted ``ClassicalClassifier`` (read with ``allow_pickle=False``)."""
    from studio.nets.classical import ClassicalClassifier
    from studio.registry import model_file

    if "classical" not in version.files:
        raise NotFound(f"model {version.name} has no classical.npz (its files: {', '.join(version.files) or 'none'}); "
                       "expected a version trained with architecture classical_svm or classical_rf")
    return ClassicalClassifier.load(model_file(version, "classical"))


class ClassicalRunner:
    """(B, 3, S, S) pixels -> (log probabilities (B, K) float32 torch tensor,), K = the version's classes."""

    def __init__(self, version: ModelVersion, runtime: str, device: Any) -> None:
        self.model = classical_model(version)
        self.num_classes = len(version.classes)
        self.image_size = self.model.image_size
        self.device = device
        self.session = None
        self.provider = "numpy (classical)" if runtime == "torch" else "onnxruntime CPU (classical)"
        if runtime == "onnx":
            from studio.inference.runtimes import onnx_session
            from studio.registry import model_file

            if "onnx" not in version.files:
                raise NotFound(f"model {version.name} has no ONNX file; export one first: studio export onnx "
                               f"{version.name}")
            self.session = onnx_session(model_file(version, "onnx"), "cpu")

    def probabilities(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """list of (H, W, 3) uint8 RGB -> (N, K) float64 probabilities over the version's classes."""
        from studio.training.classical import full_probs

        X = self.model.features(list(crops))
        if self.session is None:
            return full_probs(self.model, X, self.num_classes)
        probs = self.session.run(["probabilities"], {"features": X.astype(np.float32)})[0]
        out = np.zeros((len(X), self.num_classes), np.float64)
        assert self.model.classes is not None
        out[:, self.model.classes.astype(np.int64)] = probs
        return out

    def __call__(self, x: Any) -> tuple[Any, ...]:
        import torch

        array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if array.ndim != 4 or array.shape[1] != 3:
            raise InvalidInput(f"classical model input: expected (B, 3, H, W) pixels, got shape {array.shape}")
        crops = [np.ascontiguousarray(np.clip(np.rint(a.transpose(1, 2, 0)), 0, 255).astype(np.uint8)) for a in array]
        probs = self.probabilities(crops)
        return (torch.from_numpy(np.log(np.clip(probs, 1e-12, 1.0)).astype(np.float32)),)

    def synchronize(self) -> None:
        """Nothing: it runs on the CPU and returns when done."""


class ClassicalPredictor(Predictor):
    """A ``Predictor`` (classification outputs: ``ClassOutput``) of a classical version."""

    def _prepare_classification(self, images: Sequence[np.ndarray]) -> Any:
        """(B, 3, S, S) float32 pixels 0-255: each crop resized to the version's image_size squared."""
        import torch

        from studio.nets.classical_features import check_images, resized

        crops = [np.asarray(image) for image in images]
        check_images(crops)
        size = self._runner.image_size
        return torch.from_numpy(resized(crops, size).transpose(0, 3, 1, 2).astype(np.float32))

    def _classification(self, images: Sequence[np.ndarray], **options: Any) -> list[Output]:
        probs = self._runner(self._prepare_classification(images))[0].softmax(1).numpy().astype(np.float32)
        out: list[Output] = []
        for p in probs:
            order = np.argsort(-p, kind="stable")[:5]
            out.append(ClassOutput(p, [(self.classes[k], float(p[k])) for k in order]))
        return out

    def example_input(self, batch_size: int = 1, size: tuple[int, int] | None = None, seed: int = 0) -> np.ndarray:
        """Random (B, 3, H, W) float32 pixels 0-255 (default: the version's image_size)."""
        rng = np.random.default_rng(seed)
        h, w = size or (self._runner.image_size,) * 2
        return rng.integers(0, 256, (batch_size, 3, int(h), int(w))).astype(np.float32)


_CACHE: OrderedDict[tuple[Any, ...], ClassicalPredictor] = OrderedDict()
_LOCK = threading.Lock()


def classical_predictor(version: ModelVersion, runtime: str = "torch", device: Any = None) -> ClassicalPredictor:
    """The predictor of classical version ``version`` (cached per file and runtime); InvalidInput for a
    runtime other than "torch" (numpy) or "onnx"."""
    from studio.registry import model_file, models_root

    if runtime not in CLASSICAL_RUNTIMES:
        raise InvalidInput(f"runtime {runtime!r}: a classical model ({version.architecture}) runs on "
                           f"{' or '.join(CLASSICAL_RUNTIMES)}")
    import torch

    path = model_file(version, "onnx" if runtime == "onnx" else "classical")
    stat = path.stat() if path.is_file() else None
    key = (str(models_root().resolve()), version.id, version.name, runtime, str(path),
           stat.st_mtime_ns if stat else None)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        runner = ClassicalRunner(version, runtime, torch.device("cpu"))
        predictor = ClassicalPredictor(version, runtime, torch.device("cpu"), runner, ("logits",), "image")
        _CACHE[key] = predictor
        while len(_CACHE) > 4:
            _CACHE.popitem(last=False)
        return predictor


__all__ = ["ClassicalPredictor", "ClassicalRunner", "classical_model", "classical_predictor"]
