"""Classical image-classification baseline: HOG + LBP + colour histograms -> linear SVM or random forest.

    clf = ClassicalClassifier("svm").fit(images, labels)   # images: list of (H, W, 3) uint8 RGB, any sizes
    clf.predict(images)        # (N,) labels (the dtype of ``classes``)
    clf.predict_proba(images)  # (N, K) float64, columns in ``clf.classes`` order
    clf.save("baseline.npz"); ClassicalClassifier.load("baseline.npz")

Features (``features``): each image is resized to ``image_size`` squared (skimage, anti-aliased),
then HOG on the grey image (9 orientations, 8x8-pixel cells, 2x2-cell blocks, L2-Hys), the
histogram of uniform LBP codes (P=8, R=1; 10 bins) and per-channel HSV histograms (hue 12, sat 8,
value 8 bins); histograms are normalised to sum 1. 64x64 gives 1,764 + 10 + 28 = 1,802 features.

Persistence without pickle: ``save`` writes an ``.npz`` of plain arrays (the feature settings as
JSON text; for the SVM the scaler mean/scale and coef/intercept; for the forest every tree's
children_left/right, feature, threshold and value) and ``load`` reads it with
``allow_pickle=False``. Predictions always run through the numpy implementation of those arrays,
so a loaded model predicts exactly what the fitted one did.

``predict_proba`` of the SVM is the softmax of its margins (the sigmoid for two classes):
uncalibrated, fine for ranking and thresholds, not a calibrated probability. The forest's is
scikit-learn's (mean over trees of the leaf class fractions).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Literal

import numpy as np

from studio.errors import InvalidInput

FORMAT = "studio.classical/1"
Kind = Literal["svm", "forest"]
_HUE_BINS, _SAT_BINS, _VAL_BINS = 12, 8, 8
_LBP_POINTS, _LBP_RADIUS = 8, 1


def _check_images(images: list[np.ndarray]) -> None:
    if not isinstance(images, (list, tuple)) or not images:
        raise InvalidInput(f"images: expected a non-empty list of (H, W, 3) uint8 RGB arrays, got {type(images).__name__}")
    for i, image in enumerate(images):
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InvalidInput(f"images[{i}]: expected (H, W, 3) uint8 RGB, got shape {getattr(image, 'shape', None)} "
                               f"dtype {getattr(image, 'dtype', type(image).__name__)}")
        if min(image.shape[:2]) < 2:
            raise InvalidInput(f"images[{i}]: expected at least 2x2 pixels, got {image.shape[1]}x{image.shape[0]}")


def image_features(image: np.ndarray, image_size: int = 64) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (F,) float64: HOG, uniform-LBP histogram, HSV histograms (see the module doc)."""
    from skimage.color import rgb2gray, rgb2hsv
    from skimage.feature import hog, local_binary_pattern
    from skimage.transform import resize

    rgb = resize(image, (image_size, image_size), anti_aliasing=True, preserve_range=False)  # float64 in [0, 1]
    gray = rgb2gray(rgb)
    hog_features = hog(gray, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys",
                       feature_vector=True)
    codes = local_binary_pattern(np.round(gray * 255).astype(np.uint8), _LBP_POINTS, _LBP_RADIUS, method="uniform")
    lbp = np.bincount(codes.astype(np.int64).ravel(), minlength=_LBP_POINTS + 2).astype(np.float64)
    hsv = rgb2hsv(rgb)
    hists = [np.histogram(hsv[..., c], bins=bins, range=(0.0, 1.0))[0].astype(np.float64)
             for c, bins in enumerate((_HUE_BINS, _SAT_BINS, _VAL_BINS))]
    parts = [hog_features, lbp / max(lbp.sum(), 1.0)] + [h / max(h.sum(), 1.0) for h in hists]
    return np.concatenate(parts).astype(np.float64)


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


class ClassicalClassifier:
    """HOG + LBP + colour-histogram features with a linear SVM ("svm") or a random forest ("forest").

    kind: "svm" (StandardScaler + LinearSVC) or "forest" (RandomForestClassifier)
    image_size: side of the square every image is resized to before features (multiple of 16, >= 16)
    C: SVM regularisation; n_estimators / max_depth: forest size; random_state: seeds both
    After ``fit`` or ``load``: ``classes`` (K,) sorted labels; ``estimator_`` (the scikit-learn
    model) only after ``fit``.
    """

    def __init__(self, kind: Kind = "svm", image_size: int = 64, C: float = 1.0, n_estimators: int = 100,
                 max_depth: int | None = None, random_state: int = 0):
        if kind not in ("svm", "forest"):
            raise InvalidInput(f"kind: expected 'svm' or 'forest', got {kind!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16 or image_size % 16:
            raise InvalidInput(f"image_size: expected a multiple of 16 >= 16, got {image_size!r}")
        self.kind: Kind = kind
        self.image_size = image_size
        self.C, self.n_estimators, self.max_depth, self.random_state = C, n_estimators, max_depth, random_state
        self.classes: np.ndarray | None = None
        self.estimator_: Any = None
        self._arrays: dict[str, np.ndarray] = {}

    # ----------------------------------------------------------------------- features

    def features(self, images: list[np.ndarray]) -> np.ndarray:
        """list of (H, W, 3) uint8 RGB -> (N, F) float64 feature matrix."""
        _check_images(images)
        return np.stack([image_features(image, self.image_size) for image in images])

    # ----------------------------------------------------------------------- fit

    def fit(self, images: list[np.ndarray], labels: np.ndarray) -> ClassicalClassifier:
        """Fit on images and their labels ((N,) ints or strings, at least two distinct). Returns self."""
        labels = np.asarray(labels)
        if labels.dtype == object:
            labels = labels.astype(str)
        if labels.ndim != 1 or len(labels) != len(images):
            raise InvalidInput(f"labels: expected shape ({len(images)},) (one per image), got {labels.shape}")
        if labels.dtype.kind not in "iuU" and labels.dtype != np.bool_:
            raise InvalidInput(f"labels: expected integers or strings, got dtype {labels.dtype}")
        if len(np.unique(labels)) < 2:
            raise InvalidInput(f"labels: expected at least 2 distinct classes, got {np.unique(labels).tolist()}")
        X = self.features(images)
        if self.kind == "svm":
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler
            from sklearn.svm import LinearSVC

            pipe = make_pipeline(StandardScaler(), LinearSVC(C=self.C, max_iter=10000, random_state=self.random_state))
            pipe.fit(X, labels)
            scaler, svm = pipe[0], pipe[1]
            self.classes = np.asarray(svm.classes_)
            self._arrays = {"scaler_mean": scaler.mean_.astype(np.float64), "scaler_scale": scaler.scale_.astype(np.float64),
                            "coef": svm.coef_.astype(np.float64), "intercept": svm.intercept_.astype(np.float64)}
            self.estimator_ = pipe
        else:
            from sklearn.ensemble import RandomForestClassifier

            forest = RandomForestClassifier(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                            random_state=self.random_state, n_jobs=1)
            forest.fit(X, labels)
            self.classes = np.asarray(forest.classes_)
            self._arrays = _forest_arrays(forest)
            self.estimator_ = forest
        return self

    # ----------------------------------------------------------------------- predict (numpy, from the arrays)

    def _require_fitted(self) -> None:
        if self.classes is None:
            raise InvalidInput("classifier is not fitted: call fit(images, labels) or ClassicalClassifier.load(path) first")

    def decision_scores(self, X: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N, K) float64: SVM margins (two classes: [0, margin]) or forest probabilities."""
        self._require_fitted()
        a = self._arrays
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise InvalidInput(f"features: expected (N, {self.n_features}), got {X.shape}")
        if self.kind == "svm":
            Z = (X.astype(np.float64) - a["scaler_mean"]) / a["scaler_scale"]
            scores = Z @ a["coef"].T + a["intercept"]
            if scores.shape[1] == 1:  # binary LinearSVC: one margin, positive = classes[1]
                scores = np.concatenate([np.zeros_like(scores), scores], axis=1)
            return scores
        return _forest_proba(a, X)

    def predict_proba(self, images: list[np.ndarray]) -> np.ndarray:
        """list of (H, W, 3) uint8 RGB -> (N, K) float64, rows sum to 1, columns in ``classes`` order."""
        scores = self.decision_scores(self.features(images))
        return _softmax(scores) if self.kind == "svm" else scores

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        """list of (H, W, 3) uint8 RGB -> (N,) labels (``classes`` dtype)."""
        scores = self.decision_scores(self.features(images))
        assert self.classes is not None
        return self.classes[np.argmax(scores, axis=1)]

    @property
    def n_features(self) -> int:
        self._require_fitted()
        a = self._arrays
        return int(a["coef"].shape[1]) if self.kind == "svm" else int(a["n_features"])

    # ----------------------------------------------------------------------- persistence (no pickle)

    def _config(self) -> dict[str, Any]:
        return {"kind": self.kind, "image_size": self.image_size, "C": self.C, "n_estimators": self.n_estimators,
                "max_depth": self.max_depth, "random_state": self.random_state,
                "features": {"hog": {"orientations": 9, "pixels_per_cell": 8, "cells_per_block": 2},
                             "lbp": {"points": _LBP_POINTS, "radius": _LBP_RADIUS, "method": "uniform"},
                             "hsv_bins": [_HUE_BINS, _SAT_BINS, _VAL_BINS]}}

    def save(self, path: str | Path) -> Path:
        """Write the fitted model as an ``.npz`` of plain arrays (temporary name, then renamed). Returns the path."""
        self._require_fitted()
        assert self.classes is not None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        arrays = {"format": np.array(FORMAT), "config": np.array(json.dumps(self._config())),
                  "classes": self.classes, **self._arrays}
        try:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **arrays)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ClassicalClassifier:
        """Read a file written by ``save`` (``allow_pickle=False``); InvalidInput if it is not one."""
        path = Path(path)
        if not path.is_file():
            raise InvalidInput(f"classical model {path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{path}: expected a classical-baseline .npz, could not read it ({exc})") from None
        if "format" not in arrays or str(arrays["format"]) != FORMAT:
            raise InvalidInput(f"{path}: expected format {FORMAT!r}, got {str(arrays.get('format', 'none'))!r}")
        config = json.loads(str(arrays.pop("config")))
        arrays.pop("format")
        model = cls(config["kind"], config["image_size"], config["C"], config["n_estimators"], config["max_depth"],
                    config["random_state"])
        model.classes = arrays.pop("classes")
        need = (("scaler_mean", "scaler_scale", "coef", "intercept") if model.kind == "svm" else
                ("tree_offsets", "children_left", "children_right", "feature", "threshold", "value", "n_features"))
        missing = [k for k in need if k not in arrays]
        if missing:
            raise InvalidInput(f"{path}: missing arrays {missing} for a {model.kind} model")
        model._arrays = {k: arrays[k] for k in need}
        return model


def _forest_arrays(forest: Any) -> dict[str, np.ndarray]:
    """Every tree of a fitted RandomForestClassifier, concatenated; node ids stay local to their tree."""
    trees = [est.tree_ for est in forest.estimators_]
    offsets = np.cumsum([0] + [t.node_count for t in trees]).astype(np.int64)
    return {
        "tree_offsets": offsets,
        "children_left": np.concatenate([t.children_left for t in trees]).astype(np.int64),
        "children_right": np.concatenate([t.children_right for t in trees]).astype(np.int64),
        "feature": np.concatenate([t.feature for t in trees]).astype(np.int64),
        "threshold": np.concatenate([t.threshold for t in trees]).astype(np.float64),
        "value": np.concatenate([t.value[:, 0, :] for t in trees]).astype(np.float64),  # (nodes, K)
        "n_features": np.array(forest.n_features_in_, dtype=np.int64),
    }


def _forest_proba(a: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """scikit-learn's RandomForestClassifier.predict_proba on the saved arrays (X compared as float32, as it does)."""
    X32 = X.astype(np.float32)
    rows = np.arange(len(X32))
    offsets = a["tree_offsets"]
    total = np.zeros((len(X32), a["value"].shape[1]), dtype=np.float64)
    for start, end in zip(offsets[:-1], offsets[1:]):
        left, right = a["children_left"][start:end], a["children_right"][start:end]
        feature, threshold, value = a["feature"][start:end], a["threshold"][start:end], a["value"][start:end]
        node = np.zeros(len(X32), dtype=np.int64)
        while True:
            inner = left[node] != -1  # -1 marks a leaf (sklearn's TREE_LEAF)
            if not inner.any():
                break
            n = node[inner]
            go_left = X32[rows[inner], feature[n]] <= threshold[n]
            node[inner] = np.where(go_left, left[n], right[n])
        proba = value[node]
        norm = proba.sum(axis=1, keepdims=True)
        norm[norm == 0.0] = 1.0
        total += proba / norm
    return total / (len(offsets) - 1)
