"""Classical image classifier (the seeds' "shallow" family): HOG + LBP + colour histograms -> a
linear SVM or a random forest. Trained as a ``train`` job like every other model (architecture
``classical_svm`` / ``classical_rf``, task classification: studio.training.classical).

    clf = ClassicalClassifier("svm").fit(images, labels)   # images: list of (H, W, 3) uint8 RGB, any sizes
    clf.predict(images)        # (N,) labels (the dtype of ``classes``)
    clf.predict_proba(images)  # (N, K) float64, columns in ``clf.classes`` order
    clf.save("model.npz"); ClassicalClassifier.load("model.npz")   # plain arrays, no pickle
    clf.to_onnx("model.onnx")  # features (B, F) float32 -> probabilities (B, K)

Features: :mod:`studio.nets.classical_features` (HOG + LBP + HSV histograms, 1,802 at 64x64).

Persistence without pickle: ``save`` writes an ``.npz`` of plain arrays (the settings as JSON
text; for the SVM the scaler mean/scale and coef/intercept; for the forest every tree's
children_left/right, feature, threshold and value) and ``load`` reads it with
``allow_pickle=False``. Predictions always run through the numpy implementation of those arrays,
so a loaded model predicts exactly what the fitted one did. ``to_onnx`` writes the same arrays as
an ONNX graph of the classifier (standard ops for the SVM; ``ai.onnx.ml`` TreeEnsembleClassifier
for the forest); the features are computed before it (they are not tensor ops a graph holds).

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
from studio.nets.classical_features import FEATURES, batch_features, check_images, checked_image_size, feature_count

FORMAT = "studio.classical/2"
Kind = Literal["svm", "forest"]
ARCHITECTURES: dict[str, Kind] = {"classical_svm": "svm", "classical_rf": "forest"}  # TrainConfig.architecture


def is_classical(architecture: str) -> bool:
    """Whether ``architecture`` names a classical model (``classical_svm`` / ``classical_rf``)."""
    return architecture in ARCHITECTURES


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------- the model


class ClassicalClassifier:
    """HOG + LBP + colour-histogram features with a linear SVM ("svm") or a random forest ("forest").

    kind: "svm" (StandardScaler + LinearSVC) or "forest" (RandomForestClassifier)
    image_size: side of the square every image is resized to before features (multiple of 16, >= 16)
    C: SVM regularisation; n_estimators / max_depth: forest size; random_state: seeds both;
    n_jobs: forest trees fitted in parallel
    After ``fit`` or ``load``: ``classes`` (K,) sorted labels; ``estimator_`` (the scikit-learn
    model) only after ``fit``.
    """

    def __init__(self, kind: Kind = "svm", image_size: int = 64, C: float = 1.0, n_estimators: int = 100,
                 max_depth: int | None = None, random_state: int = 0, n_jobs: int = 1):
        if kind not in ("svm", "forest"):
            raise InvalidInput(f"kind: expected 'svm' or 'forest', got {kind!r}")
        self.image_size = checked_image_size(image_size)
        if not (isinstance(C, (int, float)) and C > 0):
            raise InvalidInput(f"C: expected a positive number, got {C!r}")
        if isinstance(n_estimators, bool) or not isinstance(n_estimators, int) or n_estimators < 1:
            raise InvalidInput(f"n_estimators: expected an integer >= 1, got {n_estimators!r}")
        if max_depth is not None and (isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1):
            raise InvalidInput(f"max_depth: expected an integer >= 1 or None, got {max_depth!r}")
        self.kind: Kind = kind
        self.C, self.n_estimators, self.max_depth, self.random_state = float(C), n_estimators, max_depth, random_state
        self.n_jobs = n_jobs
        self.classes: np.ndarray | None = None
        self.estimator_: Any = None
        self._arrays: dict[str, np.ndarray] = {}

    # ----------------------------------------------------------------------- features

    def features(self, images: list[np.ndarray], progress: Any = None) -> np.ndarray:
        """list of (H, W, 3) uint8 RGB -> (N, F) float32 feature matrix (:func:`batch_features`)."""
        return batch_features(images, self.image_size, progress=progress)

    # ----------------------------------------------------------------------- fit

    def fit(self, images: list[np.ndarray], labels: np.ndarray) -> ClassicalClassifier:
        """Fit on images and their labels ((N,) ints or strings, at least two distinct). Returns self."""
        check_images(images)
        return self.fit_features(self.features(images), labels)

    def fit_features(self, X: np.ndarray, labels: Any) -> ClassicalClassifier:
        """Fit on a (N, F) feature matrix (from :meth:`features`) and (N,) labels. Returns self."""
        labels = np.asarray(labels)
        if labels.dtype == object:
            labels = labels.astype(str)
        if labels.ndim != 1 or len(labels) != len(X):
            raise InvalidInput(f"labels: expected shape ({len(X)},) (one per image), got {labels.shape}")
        if labels.dtype.kind not in "iuU" and labels.dtype != np.bool_:
            raise InvalidInput(f"labels: expected integers or strings, got dtype {labels.dtype}")
        if len(np.unique(labels)) < 2:
            raise InvalidInput(f"labels: expected at least 2 distinct classes, got {np.unique(labels).tolist()}")
        expected = feature_count(self.image_size)
        if X.ndim != 2 or X.shape[1] != expected:
            raise InvalidInput(f"features: expected (N, {expected}) for image_size {self.image_size}, got {X.shape}")
        X = np.asarray(X, np.float32)
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
                                            random_state=self.random_state, n_jobs=self.n_jobs)
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

    def proba_from_features(self, X: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N, K) float64 probabilities, rows sum to 1, columns in ``classes`` order."""
        scores = self.decision_scores(X)
        return _softmax(scores) if self.kind == "svm" else scores

    def predict_proba(self, images: list[np.ndarray]) -> np.ndarray:
        """list of (H, W, 3) uint8 RGB -> (N, K) float64, rows sum to 1, columns in ``classes`` order."""
        return self.proba_from_features(self.features(images))

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
                "max_depth": self.max_depth, "random_state": self.random_state, "features": FEATURES,
                "n_features": feature_count(self.image_size)}

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
            raise InvalidInput(f"{path}: expected a classical-model .npz of plain arrays, could not read it "
                               f"({str(exc).splitlines()[0][:160]})") from None
        if "format" not in arrays or str(arrays["format"]) != FORMAT:
            raise InvalidInput(f"{path}: expected format {FORMAT!r}, got {str(arrays.get('format', 'none'))!r}")
        config = json.loads(str(arrays.pop("config")))
        arrays.pop("format")
        if config.get("features") != FEATURES:
            raise InvalidInput(f"{path}: fitted on features {config.get('features')!r}; this studio computes "
                               f"{FEATURES!r} (retrain it)")
        model = cls(config["kind"], config["image_size"], config["C"], config["n_estimators"], config["max_depth"],
                    config["random_state"])
        model.classes = arrays.pop("classes")
        need = (("scaler_mean", "scaler_scale", "coef", "intercept") if model.kind == "svm" else
                ("tree_offsets", "children_left", "children_right", "feature", "threshold", "value", "n_features"))
        missing = [k for k in need if k not in arrays]
        if missing:
            raise InvalidInput(f"{path}: missing arrays {missing} for a {model.kind} model")
        model._arrays = {k: arrays[k] for k in need}
        if model.n_features != feature_count(model.image_size):
            raise InvalidInput(f"{path}: {model.n_features} features; expected {feature_count(model.image_size)} "
                               f"for image_size {model.image_size}")
        return model

    # ----------------------------------------------------------------------- ONNX (from the arrays)

    def to_onnx(self, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
        """Write the classifier as ONNX: input ``features`` (B, F) float32 -> output ``probabilities``
        (B, K) float32 in ``classes`` order, equal to :meth:`proba_from_features` (forest thresholds are
        rounded down to float32, which keeps every float32 comparison as scikit-learn makes it).
        Temporary name, then renamed. ``metadata``: written as the model's metadata_props."""
        import onnx
        from onnx import TensorProto, helper

        self._require_fitted()
        assert self.classes is not None
        a, k, f = self._arrays, len(self.classes), self.n_features
        features = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", f])
        probabilities = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", k])
        opsets = [helper.make_opsetid("", 17)]
        if self.kind == "svm":
            coef = a["coef"] / a["scaler_scale"][None, :]  # (Z = (x - m) / s) @ W.T + b folded into x @ W'.T + b'
            bias = a["intercept"] - coef @ a["scaler_mean"]
            if coef.shape[0] == 1:  # binary: margins [0, w.x + b]
                coef = np.concatenate([np.zeros_like(coef), coef])
                bias = np.concatenate([[0.0], bias])
            inits = [helper.make_tensor("W", TensorProto.FLOAT, [f, k], coef.T.astype(np.float32).ravel()),
                     helper.make_tensor("b", TensorProto.FLOAT, [k], bias.astype(np.float32))]
            nodes = [helper.make_node("Gemm", ["features", "W", "b"], ["margins"]),
                     helper.make_node("Softmax", ["margins"], ["probabilities"], axis=1)]
        else:
            opsets.append(helper.make_opsetid("ai.onnx.ml", 3))
            inits, nodes = [], [_tree_ensemble_node(a, k)]
        graph = helper.make_graph(nodes, "studio_classical", [features], [probabilities], inits)
        model = helper.make_model(graph, opset_imports=opsets, producer_name="studio")
        model.ir_version = 8
        for key, value in (metadata or {}).items():
            model.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(model)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_bytes(model.SerializeToString())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path


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


def _float32_floor(values: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 value: for a float32 x, ``x <= v`` iff ``x <= floor32(v)``."""
    rounded = values.astype(np.float32)
    above = rounded.astype(np.float64) > values
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def _tree_ensemble_node(a: dict[str, np.ndarray], classes: int) -> Any:
    """An ``ai.onnx.ml`` TreeEnsembleClassifier of the saved forest: leaf weights = class fractions / trees,
    summed (post_transform NONE) = the forest's mean probability."""
    from onnx import helper

    offsets = a["tree_offsets"]
    trees = len(offsets) - 1
    attrs: dict[str, list] = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values",
                                               "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
                                               "class_treeids", "class_nodeids", "class_ids", "class_weights")}
    thresholds = _float32_floor(a["threshold"])
    for t, (start, end) in enumerate(zip(offsets[:-1], offsets[1:])):
        for node in range(end - start):
            g = start + node
            leaf = a["children_left"][g] == -1
            attrs["nodes_treeids"].append(t)
            attrs["nodes_nodeids"].append(node)
            attrs["nodes_featureids"].append(0 if leaf else int(a["feature"][g]))
            attrs["nodes_values"].append(0.0 if leaf else float(thresholds[g]))
            attrs["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            attrs["nodes_truenodeids"].append(0 if leaf else int(a["children_left"][g]))
            attrs["nodes_falsenodeids"].append(0 if leaf else int(a["children_right"][g]))
            if leaf:
                value = a["value"][g]
                fractions = value / value.sum() if value.sum() > 0 else value
                for c in range(classes):
                    attrs["class_treeids"].append(t)
                    attrs["class_nodeids"].append(node)
                    attrs["class_ids"].append(c)
                    attrs["class_weights"].append(float(fractions[c]) / trees)
    return helper.make_node("TreeEnsembleClassifier", ["features"], ["label", "probabilities"],
                            domain="ai.onnx.ml", classlabels_int64s=list(range(classes)), post_transform="NONE",
                            **attrs)


__all__ = ["ARCHITECTURES", "ClassicalClassifier",
           "is_classical"]
