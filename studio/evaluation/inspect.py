"""Small helpers the Evaluate and Compare pages need (no Streamlit here, so they are testable).

- ``image_layers(eval_id, version_image_id)``: the pixels, ground truth and stored prediction
  of one image of an evaluation; ``overlay_pair`` draws the two label maps on the image in the
  class colours (``studio.live.overlay``), ignored ground-truth pixels grey.
- ``clickable_confusion``: the confusion heatmap of ``studio.plots`` plus an invisible marker
  per cell, because Plotly selects no heatmap cells: clicking a cell selects its marker, whose
  customdata is [ground truth, predicted]; ``confusion_cell`` reads it back from the page's
  selection state.
- ``disagreement_colours`` / ``disagreement_overlay``: the codes of
  ``Comparison.disagreement_map`` in colours (``DISAGREEMENT_LEGEND``).
- ``confusion_mask`` / ``confusion_overlay``: the pixels of one confusion-matrix cell (ground
  truth class i predicted as j) marked on the image, so a cell's images show *where* it happens.
- ``headline_metrics`` and ``evaluation_label``: what a page shows for an evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from studio.errors import InvalidInput
from studio.evaluation.metrics import IGNORE_INDEX

IGNORE_RGB = (128, 128, 128)
CONFUSION_RGB = (255, 0, 255)  # magenta: far from every demo class colour and from most photos
CONFUSION_OUTLINE_RGB = (255, 255, 255)
# code -> (meaning, colour); codes of studio.evaluation.compare.disagreement_codes
DISAGREEMENT_LEGEND: dict[int, tuple[str, str]] = {
    0: ("same prediction", "#000000"),
    1: ("only A right", "#1f77b4"),
    2: ("only B right", "#ff7f0e"),
    3: ("both wrong, different", "#d62728"),
}
HEADLINES = {
    "semantic": ("miou", "pixel_accuracy", "mean_dice", "ms_per_image"),
    "instance": ("ap", "ap50", "miou", "ms_per_image"),
    "classification": ("accuracy", "macro_f1", "weighted_f1", "ms_per_image"),
    "sequence": ("accuracy", "macro_f1", "category_accuracy", "category_macro_f1", "ms_per_image"),
}


# --------------------------------------------------------------------------- one image


def image_layers(eval_id: int, version_image_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(rgb (H, W, 3) uint8, ground truth (H, W) uint8 in the model's class indices with 255 =
    ignore, stored prediction (H, W) int64 or None when the evaluation kept none) of one image
    of a segmentation evaluation (semantic, or instance painted into a class map)."""
    from studio.evaluation.data import class_lut, ground_truth, load_split
    from studio.evaluation.views import get_evaluation, load_prediction
    from studio.images import load_rgb
    from studio.registry import get_model
    from studio.tables import Task

    view = get_evaluation(eval_id)
    if view.task == Task.classification.value:
        raise InvalidInput(f"evaluation {eval_id} is a classification evaluation: it has no per-pixel maps; "
                           "expected a semantic or instance evaluation")
    if view.dataset_version_id is None:
        raise InvalidInput(f"the dataset version of evaluation {eval_id} has been deleted; its images are gone")
    data = load_split(view.dataset_version_id, view.split)
    item = next((i for i in data.items if i.version_image_id == int(version_image_id)), None)
    if item is None:
        raise InvalidInput(f"image {version_image_id} is not in split {view.split!r} of {data.label}; expected a "
                           f"version image id of evaluation {eval_id}")
    version = get_model(view.model_version_id)
    gt = ground_truth(item, class_lut(version.classes, data.classes, f"model {version.name}"))
    return load_rgb(item.path), gt, load_prediction(eval_id, int(version_image_id))


def class_palette(classes: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(256, 3) uint8 colours of class indices (``studio.live.overlay.palette``), 255 = ignore grey."""
    from studio.live.overlay import palette

    lut = palette([dict(c) for c in classes])
    lut[IGNORE_INDEX] = IGNORE_RGB
    return lut


def overlay(rgb: np.ndarray, labels: np.ndarray | None, classes: Sequence[Mapping[str, Any]],
            alpha: float = 0.5) -> np.ndarray:
    """``rgb`` with ``labels`` blended in the class colours (ignored pixels grey); ``rgb`` when None."""
    from studio.live.overlay import blend_labels

    if labels is None:
        return rgb
    return blend_labels(rgb, np.asarray(labels).astype(np.int64), class_palette(classes), alpha)


def overlay_pair(rgb: np.ndarray, first: np.ndarray | None, second: np.ndarray | None,
                 classes: Sequence[Mapping[str, Any]], alpha: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Two label maps (ground truth and prediction, or prediction A and B) drawn on the same image."""
    return overlay(rgb, first, classes, alpha), overlay(rgb, second, classes, alpha)


def confusion_mask(gt: np.ndarray, pred: np.ndarray, gt_class: int, pred_class: int) -> np.ndarray:
    """(H, W) bool: the pixels whose ground truth is ``gt_class`` and prediction ``pred_class``
    (the pixels one confusion-matrix cell counts for this image). ``pred`` of another size is
    resized nearest-neighbour to ``gt``'s, as evaluation does."""
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.ndim != 2 or pred.ndim != 2:
        raise InvalidInput(f"confusion_mask: expected two (H, W) label maps, got {gt.shape} and {pred.shape}")
    if pred.shape != gt.shape:
        from studio.evaluation.metrics import resize_prediction

        pred = resize_prediction(pred, gt.shape)
    return (gt == int(gt_class)) & (pred == int(pred_class))


def confusion_overlay(rgb: np.ndarray, gt: np.ndarray, pred: np.ndarray, gt_class: int, pred_class: int,
                      alpha: float = 0.75) -> tuple[np.ndarray, int]:
    """(the image dimmed with the pixels of ground truth ``gt_class`` predicted as ``pred_class``
    in magenta, outlined in white so a few pixels stay visible; how many pixels those are)."""
    import cv2

    mask = confusion_mask(gt, pred, gt_class, pred_class)
    if mask.shape != rgb.shape[:2]:
        raise InvalidInput(f"confusion_overlay: image {rgb.shape[:2]} and label maps {mask.shape} differ in size")
    out = (rgb.astype(np.float32) * 0.45).astype(np.uint8)
    colour = np.array(CONFUSION_RGB, np.float32)
    out[mask] = (rgb[mask].astype(np.float32) * (1 - alpha) + colour * alpha).astype(np.uint8)
    if mask.any():
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, rgb.shape[1] // 400))
        out[(grown > 0) & ~mask] = CONFUSION_OUTLINE_RGB
    return out, int(mask.sum())


# --------------------------------------------------------------------------- disagreement


def disagreement_colours(codes: np.ndarray) -> np.ndarray:
    """(H, W) codes 0..3 -> (H, W, 3) uint8 RGB in the ``DISAGREEMENT_LEGEND`` colours."""
    from studio.colors import hex_to_rgb

    codes = np.asarray(codes)
    if codes.ndim != 2 or (codes.size and (int(codes.min()) < 0 or int(codes.max()) > 3)):
        raise InvalidInput(f"disagreement codes: expected an (H, W) map of 0..3, got shape {codes.shape}")
    lut = np.array([hex_to_rgb(DISAGREEMENT_LEGEND[k][1]) for k in range(4)], np.uint8)
    return lut[codes.astype(np.intp)]


def disagreement_overlay(rgb: np.ndarray, codes: np.ndarray, alpha: float = 0.65) -> np.ndarray:
    """The image dimmed where A and B agree, the disagreement colours blended where they differ."""
    colours = disagreement_colours(codes)
    out = (rgb.astype(np.float32) * 0.6).astype(np.uint8)
    differ = np.asarray(codes) > 0
    out[differ] = (rgb[differ] * (1 - alpha) + colours[differ] * alpha).astype(np.uint8)
    return out


# --------------------------------------------------------------------------- confusion matrix


def clickable_confusion(cm: np.ndarray, names: Sequence[str], normalise: bool = False,
                        title: str = "Confusion matrix") -> go.Figure:
    """``studio.plots.confusion_heatmap`` with one invisible square marker per cell on top; a
    click selects the cell's marker (shown highlighted), customdata [ground truth, predicted]."""
    from studio.plots import confusion_heatmap

    figure = confusion_heatmap(cm, names, normalise=normalise, title=title)
    figure.update_traces(hoverinfo="skip", hovertemplate=None, selector={"type": "heatmap"})
    cm = np.asarray(cm)
    rows, cols = np.indices(cm.shape)
    rows, cols = rows.ravel(), cols.ravel()
    size = max(6, min(40, int(0.8 * (max(360, 28 * len(names) + 160) - 110) / max(len(names), 1))))
    figure.add_trace(go.Scatter(
        x=[names[c] for c in cols], y=[names[r] for r in rows], mode="markers", name="cells", showlegend=False,
        customdata=np.stack([rows, cols], 1), text=[f"{int(v):,}" for v in cm.ravel()],
        hovertemplate="true %{y}<br>predicted %{x}<br>%{text} (click to list the images)<extra></extra>",
        marker={"symbol": "square", "size": size, "color": "rgba(255,127,14,0.0)", "line": {"width": 0}},
        selected={"marker": {"color": "rgba(255,127,14,0.45)"}},
        unselected={"marker": {"opacity": 0.0}}))
    n = len(names)  # fixed ranges: the markers must not pad the axes, so cells fill the plot area
    figure.update_layout(hovermode="closest", hoverdistance=-1, clickmode="event+select", dragmode=False,
                         xaxis={"range": [-0.5, n - 0.5], "autorange": False},
                         yaxis={"range": [n - 0.5, -0.5], "autorange": False})
    return figure


def confusion_cell(selection: Any, names: Sequence[str] | None = None) -> tuple[int, int] | None:
    """(ground truth, predicted) positions of the first clicked cell of a plotly selection state
    ({"selection": {"points": [...]}} or {"points": [...]}); None when nothing is selected.
    Reads a point's customdata [row, col], else its x / y class names."""
    if selection is None:
        return None
    state = selection.get("selection", selection) if isinstance(selection, Mapping) else \
        getattr(selection, "selection", selection)
    points = state.get("points") if isinstance(state, Mapping) else getattr(state, "points", None)
    for point in points or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)) and len(data) >= 2:
            return int(data[0]), int(data[1])
        if names is not None and point.get("y") in names and point.get("x") in names:
            return list(names).index(point["y"]), list(names).index(point["x"])
    return None


# --------------------------------------------------------------------------- labels


def headline_metrics(task: str, summary: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The (name, value) summary metrics a page shows first for ``task`` (those present)."""
    keys = HEADLINES.get(task, tuple(summary))
    return [(k, float(summary[k])) for k in keys if isinstance(summary.get(k), (int, float))
            and not isinstance(summary.get(k), bool)]


def evaluation_label(evaluation: Any) -> str:
    """'#12 · shelves v3 val · miou 0.412 · 2025-01-31 10:20' for an ``EvaluationSummary``."""
    head = next(((k, v) for k, v in headline_metrics(evaluation.task, evaluation.summary)
                 if k != "ms_per_image"), None)
    metric = f" · {head[0]} {head[1]:.3f}" if head else ""
    return f"#{evaluation.id} · {evaluation.dataset or 'deleted dataset'} {evaluation.split}{metric} · " \
           f"{evaluation.created}"


def dataset_version_label(dataset_version_id: int) -> str:
    """'shelves (data v2)' for a dataset version id ('dataset version N (deleted)' when it is gone)."""
    from studio.db import session_scope
    from studio.tables import Dataset, DatasetVersion

    with session_scope() as session:
        dv = session.get(DatasetVersion, dataset_version_id)
        dataset = session.get(Dataset, dv.dataset_id) if dv is not None else None
        if dv is None or dataset is None:
            return f"dataset version {dataset_version_id} (deleted)"
        from studio.naming import data_version

        return data_version(dataset.name, dv.version)
