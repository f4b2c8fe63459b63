"""Plotly figures the pages show (built here, without Streamlit, so they are testable).

Every function takes plain data (lists of dicts, arrays) and returns a ``go.Figure``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

LOSS_COLUMNS = ("train_loss", "val_loss")
NOT_METRICS = {"epoch", "train_loss", "val_loss", "lr", "seconds", "data_stall"}


def training_curves(rows: Sequence[dict[str, Any]], title: str = "", *, log_loss: bool = False,
                    monitor: str | None = None) -> go.Figure:
    """Loss (train, val) on the left, val metrics on the right, per epoch.

    rows: [{epoch, train_loss, val_loss, lr, seconds, <metric>: value ...}] (EpochLog or CSV rows).
    ``log_loss``: the loss axis on a log scale (a val-loss spike of 1,274 then no longer
    flattens the rest). ``monitor``: the metric that picks the best checkpoint, drawn thicker and
    named "(monitored)". Metrics are named for people ("val mIoU", ``studio.naming``).
    """
    from studio.naming import metric_label

    figure = make_subplots(rows=1, cols=2, subplot_titles=("Loss" + (" (log scale)" if log_loss else ""),
                                                           "Validation metrics"))
    epochs = [int(r["epoch"]) for r in rows]
    for column, dash in zip(LOSS_COLUMNS, ("solid", "dot")):
        values = [_float(r.get(column)) for r in rows]
        if log_loss:  # a log axis cannot show 0 or less: leave such points out
            values = [v if v is not None and v > 0 else None for v in values]
        if any(v is not None for v in values):
            figure.add_trace(go.Scatter(x=epochs, y=values, name=column.replace("_", " "), mode="lines+markers",
                                        line={"dash": dash}), row=1, col=1)
    metrics = sorted({k for r in rows for k in r if k not in NOT_METRICS}, key=lambda k: (k != monitor, k))
    for metric in metrics:
        name = f"val {metric_label(metric)}" + (" (monitored)" if metric == monitor else "")
        figure.add_trace(go.Scatter(x=epochs, y=[_float(r.get(metric)) for r in rows], name=name,
                                    mode="lines+markers", line={"width": 3 if metric == monitor else 1.5}),
                         row=1, col=2)
    figure.update_xaxes(title_text="epoch", dtick=1 if len(epochs) <= 20 else None)
    if log_loss:
        figure.update_yaxes(type="log", title_text="loss (log)", row=1, col=1)
    figure.update_yaxes(range=[0, 1.02], row=1, col=2)
    figure.update_layout(title=title or None, height=340, margin={"l": 40, "r": 10, "t": 50, "b": 40},
                         legend={"orientation": "h", "y": -0.25})
    return figure


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def cell_text(value: float, normalise: bool = False) -> str:
    """A confusion-matrix cell as people read it: a share with two decimals, or a count with
    thousands separators up to 99,999 and then short (123.4k, 1.23M); 0 stays "0"."""
    if normalise:
        return f"{value:.2f}"
    count = int(round(value))
    if abs(count) < 100_000:
        return f"{count:,}"
    if abs(count) < 10_000_000:
        return f"{count / 1e3:.1f}k" if abs(count) < 1_000_000 else f"{count / 1e6:.2f}M"
    return f"{count / 1e6:.1f}M"


def cell_font_size(classes: int) -> int:
    """Readable cell numbers: 18 px for a few classes, down to 10 px for 25."""
    return int(max(10, min(18, 22 - 0.5 * classes)))


def confusion_heatmap(cm: np.ndarray, names: Sequence[str], normalise: bool = False,
                      title: str = "Confusion matrix") -> go.Figure:
    """(C, C) counts, rows = ground truth, columns = prediction; ``normalise`` divides each
    row by its total (recall on the diagonal). Cells carry their (row, column) as customdata
    for click-through; their numbers are large and short (``cell_text``), the hover gives the
    exact count."""
    cm = np.asarray(cm, np.float64)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalise else cm
    text = np.vectorize(lambda v: cell_text(v, normalise))(shown)
    exact = np.vectorize(lambda v: f"{int(v):,}")(cm)
    rows, cols = np.indices(cm.shape)
    figure = go.Figure(go.Heatmap(
        z=shown, x=list(names), y=list(names), text=text, texttemplate="%{text}" if len(names) <= 25 else None,
        textfont={"size": cell_font_size(len(names))}, colorscale="Blues",
        customdata=np.dstack([rows, cols]), hovertext=exact,
        hovertemplate="true %{y}<br>predicted %{x}<br>%{hovertext}<extra></extra>"))
    figure.update_layout(title=title, xaxis_title="predicted", yaxis_title="ground truth",
                         yaxis={"autorange": "reversed"}, height=max(360, 28 * len(names) + 160),
                         margin={"l": 80, "r": 10, "t": 50, "b": 60})
    return figure


def class_bars(names: Sequence[str], values: Sequence[float | None], title: str, axis: str = "IoU") -> go.Figure:
    """One bar per class (None shown as a gap), sorted as given."""
    figure = go.Figure(go.Bar(x=list(names), y=[v if v is not None else None for v in values],
                              text=[f"{v:.3f}" if v is not None else "n/a" for v in values], textposition="outside"))
    figure.update_layout(title=title, yaxis={"title": axis, "range": [0, 1.1]}, height=340,
                         margin={"l": 40, "r": 10, "t": 50, "b": 40})
    return figure


def delta_bars(names: Sequence[str], deltas: Sequence[float | None], title: str, axis: str = "IoU change") -> go.Figure:
    """Per-class change (B - A): green bars for improvements, red for regressions."""
    colours = ["#2ca02c" if (d or 0) > 0 else "#d62728" if (d or 0) < 0 else "#7f7f7f" for d in deltas]
    figure = go.Figure(go.Bar(x=list(names), y=list(deltas), marker_color=colours,
                              text=[f"{d:+.3f}" if d is not None else "n/a" for d in deltas], textposition="outside"))
    figure.update_layout(title=title, yaxis_title=axis, height=340, margin={"l": 40, "r": 10, "t": 50, "b": 40})
    return figure
