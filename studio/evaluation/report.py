"""A self-contained HTML report of one evaluation (``studio evaluations report ID OUT.html``; the
Evaluate page's download): one file that opens offline anywhere, with no request to any host.

Everything is inline: the plots are PNGs drawn with matplotlib (no PNG "Software" text chunk)
as ``data:`` URIs, the images as JPEG data URIs, the style in a ``<style>`` element; no script,
no font, no link. Sections: what was evaluated (model, data, split, when), the headline and all
summary metrics (named for people), why the training-time value differs (when it does) and the
chance level, the confusion matrix (counts and row-normalised), per-class metrics (table and
bars), the worst images with ground truth and prediction side by side (segmentation) or the
misclassified samples (classifiers), the training curves of the version, and the model itself
(architecture, classes with their colours, preprocessing).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import Conflict, InvalidInput, StudioError
from studio.naming import metric_label, metrics_label

MAX_IMAGES = 8  # worst images shown
THUMB_WIDTH = 360  # pixels per image in the report

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;color:#1d2330;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dde;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #dde;padding:3px 8px;text-align:right}
th{background:#f3f4f8}td.l,th.l{text-align:left}.muted{color:#667}.warn{background:#fff4d6;border:1px solid #e8c15a;
padding:8px 12px;border-radius:6px}.note{background:#eef4ff;border:1px solid #b8cdf5;padding:8px 12px;border-radius:6px}
.metrics{display:flex;flex-wrap:wrap;gap:12px}.metric{border:1px solid #dde;border-radius:8px;padding:8px 14px}
.metric b{display:block;font-size:20px}.pair{display:flex;gap:8px;flex-wrap:wrap;margin-bottom:12px}
.pair figure{margin:0}.pair figcaption{font-size:12px;color:#556}.swatch{display:inline-block;width:12px;height:12px;
border:1px solid #889;vertical-align:middle;margin-right:4px}img{max-width:100%}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _png(figure: Any) -> str:
    """A matplotlib Figure as a data URI (no metadata text)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _jpeg(rgb: np.ndarray, width: int = THUMB_WIDTH) -> str:
    import cv2

    h, w = rgb.shape[:2]
    if w > width:
        rgb = cv2.resize(rgb, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise StudioError("could not encode an image of the report as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode()


def confusion_figure(cm: np.ndarray, names: Sequence[str], normalise: bool) -> Any:
    """The confusion matrix as a matplotlib Figure with readable cell numbers."""
    from matplotlib.figure import Figure

    from studio.plots import cell_text

    cm = np.asarray(cm, np.float64)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalise else cm
    n = len(names)
    side = min(11.0, 2.4 + 0.75 * n)
    figure = Figure(figsize=(side, side * 0.85))
    ax = figure.add_subplot(111)
    ax.imshow(shown, cmap="Blues", vmin=0, vmax=shown.max() or 1)
    ax.set_xticks(range(n), labels=list(names), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title("Row-normalised (recall on the diagonal)" if normalise else "Counts")
    if n <= 25:
        size = max(7.0, min(13.0, 60.0 / max(n, 1)))
        top = shown.max() or 1
        for (r, c), value in np.ndenumerate(shown):
            ax.text(c, r, cell_text(value, normalise), ha="center", va="center", fontsize=size,
                    color="white" if value > 0.55 * top else "#1d2330")
    figure.tight_layout()
    return figure


def bars_figure(names: Sequence[str], values: Sequence[float | None], axis: str) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(5.0, 0.7 * len(names) + 2), 3.2))
    ax = figure.add_subplot(111)
    heights = [v if v is not None else 0.0 for v in values]
    ax.bar(range(len(names)), heights, color="#4c78a8")
    for k, v in enumerate(values):
        ax.text(k, (v or 0.0) + 0.02, "n/a" if v is None else f"{v:.3f}", ha="center", fontsize=9)
    ax.set_xticks(range(len(names)), labels=list(names), rotation=30, ha="right")
    ax.set_ylim(0, 1.12)
    ax.set_ylabel(axis)
    figure.tight_layout()
    return figure


def curves_figure(rows: Sequence[dict[str, Any]], monitor: str | None) -> Any:
    """Loss (log scale) and the monitored val metric per epoch, from training_log.csv rows."""
    from matplotlib.figure import Figure

    def number(value: Any) -> float:
        try:
            out = float(value)
        except (TypeError, ValueError):
            return math.nan
        return out if math.isfinite(out) else math.nan

    epochs = [int(r["epoch"]) for r in rows]
    figure = Figure(figsize=(9.5, 3.2))
    left, right = figure.add_subplot(121), figure.add_subplot(122)
    for column, style in (("train_loss", "-"), ("val_loss", ":")):
        values = [number(r.get(column)) for r in rows]
        if any(v > 0 for v in values if not math.isnan(v)):
            left.plot(epochs, [v if v > 0 else math.nan for v in values], style, marker="o", label=column.replace("_", " "))
    left.set_yscale("log")
    left.set_title("Loss (log scale)")
    left.set_xlabel("epoch")
    left.legend(fontsize=8)
    from studio.plots import NOT_METRICS

    metrics = sorted({k for r in rows for k in r if k not in NOT_METRICS | {"data_stall"}})
    for metric in metrics:
        right.plot(epochs, [number(r.get(metric)) for r in rows], marker="o", linewidth=2.5 if metric == monitor else 1,
                   label=f"val {metric_label(metric)}" + (" (monitored)" if metric == monitor else ""))
    right.set_ylim(0, 1.02)
    right.set_title("Validation metrics")
    right.set_xlabel("epoch")
    if metrics:
        right.legend(fontsize=8)
    figure.tight_layout()
    return figure


# --------------------------------------------------------------------------- the page


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1) -> str:
    head = "".join(f"<th class='l'>{_esc(h)}</th>" if k < left else f"<th>{_esc(h)}</th>" for k, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td class='l'>{_esc(v)}</td>" if k < left else f"<td>{_esc(v)}</td>"
                                    for k, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _worst_section(view: Any, version: Any) -> str:
    from studio.evaluation.inspect import image_layers, overlay_pair
    from studio.evaluation.views import evaluation_images, worst_images
    from studio.images import load_rgb

    if view.task in ("semantic", "instance"):
        parts = []
        for w in worst_images(view.id, MAX_IMAGES):
            if w.version_image_id is None:
                continue
            try:
                rgb, gt, pred = image_layers(view.id, w.version_image_id)
            except (StudioError, OSError):
                continue
            shown_gt, shown_pred = overlay_pair(rgb, gt, pred, version.classes)
            score = "n/a" if w.score is None else f"{w.score:.3f}"
            parts.append(f"<div class='pair'><figure><img alt='ground truth of {_esc(w.file_name)}' "
                         f"src='{_jpeg(shown_gt)}'><figcaption>{_esc(w.file_name)}: ground truth (grey = ignored)"
                         f"</figcaption></figure><figure><img alt='prediction of {_esc(w.file_name)}' "
                         f"src='{_jpeg(shown_pred)}'><figcaption>prediction · image mIoU {score}</figcaption></figure></div>")
        return "".join(parts) or "<p class='muted'>No stored images to show.</p>"
    if view.task == "classification":
        wrong = [i for i in evaluation_images(view.id) if i.labels and i.labels.get("true") != i.labels.get("pred")]
        rows, pictures = [], []
        for i in wrong[:40]:
            rows.append((i.file_name, i.labels.get("true_name", i.labels.get("true")),
                         i.labels.get("pred_name", i.labels.get("pred")), _fmt(i.labels.get("prob"))))
            if len(pictures) < MAX_IMAGES and i.image_path is not None and i.image_path.is_file() and "bbox" in i.labels:
                from studio.training.data import crop_box

                rgb = load_rgb(i.image_path)
                x0, y0, x1, y1 = crop_box(i.labels["bbox"], rgb.shape[1], rgb.shape[0])
                pictures.append(f"<figure><img alt='{_esc(i.file_name)}' src='{_jpeg(rgb[y0:y1, x0:x1], 160)}'>"
                                f"<figcaption>true {_esc(rows[-1][1])}, predicted {_esc(rows[-1][2])}</figcaption></figure>")
        if not rows:
            return "<p>Every sample is classified correctly.</p>"
        return f"<div class='pair'>{''.join(pictures)}</div>" + _table(("sample", "true", "predicted", "probability"), rows, 3)
    return "<p class='muted'>Per-sample views: see predictions.csv of the evaluation.</p>"


def evaluation_report(eval_id: int) -> str:
    """The HTML of evaluation ``eval_id``'s report (see the module docstring)."""
    from studio.evaluation.inspect import headline_metrics
    from studio.evaluation.views import get_evaluation
    from studio.registry import get_model, model_dir
    from studio.training.loop import read_log
    from studio.training.chance import MARGIN
    from studio.training.readout import eval_key, monitored_metric, train_vs_eval_note

    view = get_evaluation(eval_id)
    version = get_model(view.model_version_id)
    from studio.evaluation.views import list_evaluations

    summary = next((e for e in list_evaluations(version) if e.id == eval_id), None)
    data = summary.dataset if summary is not None and summary.dataset else "deleted data"
    title = f"Evaluation {eval_id}: {version.name} on {data} {view.split}"
    unit = {"classification": "object", "sequence": "clip"}.get(view.task, "image")
    out = [f"<h1>{_esc(title)}</h1>",
           f"<p class='muted'>{view.image_count:,} {unit}{'s' if view.image_count != 1 else ''} · {_esc(view.task)} · "
           f"evaluated {_esc(view.created)} UTC in {view.seconds:.1f} s · report written "
           f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M')} UTC</p>"]
    head = headline_metrics(view.task, view.summary)
    out.append("<div class='metrics'>" + "".join(
        f"<div class='metric'>{_esc(metric_label(k))}<b>{v:.1f}</b></div>" if k == "ms_per_image" else
        f"<div class='metric'>{_esc(metric_label(k))}<b>{v:.3f}</b></div>" for k, v in head) + "</div>")
    note = train_vs_eval_note(version, summary) if summary is not None else ""
    if note:
        out.append(f"<p class='note'>{_esc(note)}</p>")
    metric = monitored_metric(version)
    chance = version.metrics.get(f"chance_{metric}") if metric else None
    value = view.summary.get(eval_key(metric)) if metric else None
    if isinstance(chance, (int, float)) and isinstance(value, (int, float)) and view.split == "val":
        threshold = chance + MARGIN * (1 - chance)  # studio.training.chance: the at-chance rule
        at_chance = value < threshold
        out.append(f"<p class='{'warn' if at_chance else 'muted'}'>Chance level of {_esc(metric_label(metric))} on "
                   f"this split: {chance:.3f}" + (f"; this value ({value:.3f}) is below {threshold:.3f}: the model "
                                                  "learned (almost) nothing." if at_chance else ".") + "</p>")
    out.append("<h2>Summary metrics</h2>")
    scalars = [(metric_label(k), _fmt(v)) for k, v in view.summary.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    out.append(_table(("metric", "value"), scalars))
    names = view.class_names
    if len(view.confusion):
        out.append("<h2>Confusion matrix</h2><p class='muted'>Rows: ground truth; columns: prediction"
                   + ("; pixels" if view.task in ("semantic", "instance") else "") + ".</p>")
        for normalise in (False, True):
            out.append(f"<img alt='confusion matrix' src='{_png(confusion_figure(view.confusion, names, normalise))}'>")
    if view.class_rows:
        out.append("<h2>Per class</h2>")
        columns = [c for c in ("iou", "dice", "precision", "recall", "f1", "accuracy", "ap", "support")
                   if any(r.get(c) is not None for r in view.class_rows)]
        out.append(_table(("class", *[metric_label(c) if c not in ("iou", "f1") else c.upper() if c == "iou" else "F1"
                                      for c in columns]),
                          [(r["name"], *[_fmt(r.get(c)) for c in columns]) for r in view.class_rows]))
        key = "f1" if view.task in ("classification", "sequence") else "iou"
        out.append(f"<img alt='per-class bars' src='{_png(bars_figure([r['name'] for r in view.class_rows], [r.get(key) for r in view.class_rows], key.upper() if key == 'iou' else 'F1'))}'>")
    out.append("<h2>" + ("Worst images first" if view.task in ("semantic", "instance") else "Mistakes") + "</h2>")
    out.append(_worst_section(view, version))
    rows = read_log(model_dir(version) / "training_log.csv")
    if rows:
        out.append("<h2>Training</h2>")
        out.append(f"<img alt='training curves' src='{_png(curves_figure(rows, metric))}'>")
    out.append("<h2>Model</h2>")
    out.append(_table(("", ""), [("name", version.name), ("task", version.task), ("architecture", version.architecture),
                                 ("backbone", version.backbone or "-"), ("version", f"v{version.semver}"),
                                 ("source", version.source)]
                      + [(metrics_label(k), _fmt(v)) for k, v in version.metrics.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool)]))
    swatches = "".join(f"<li><span class='swatch' style='background:{_esc(c.get('color') or '#888888')}'></span>"
                       f"{_esc(c['name'])} (index {c['index']})</li>" for c in version.classes)
    out.append(f"<p>Classes:</p><ul>{swatches}</ul>")
    prep_path = model_dir(version) / "preprocessing.json"
    if prep_path.is_file():
        try:
            prep = json.loads(prep_path.read_text())
            out.append("<p>Preprocessing:</p>" + _table(("", ""), [(k, json.dumps(v)) for k, v in prep.items()]))
        except (OSError, json.JSONDecodeError):
            pass
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width,initial-scale=1'><title>{_esc(title)}</title><style>{CSS}</style></head>"
            "<body>" + "".join(out) + "</body></html>\n")


def write_report(eval_id: int, out: Path, *, force: bool = False) -> Path:
    """Write the report of ``eval_id`` to ``out`` (.html), via a temporary name; Conflict when
    ``out`` exists and not ``force``."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InvalidInput(f"{out}: expected an .html file name for the report")
    if out.exists() and not force:
        raise Conflict(f"{out} already exists; pass --force to replace it")
    text = evaluation_report(eval_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


__all__ = ["evaluation_report", "write_report"]
