"""Files of an evaluation: label PNGs (palette), CSV tables, confusion-matrix pictures."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.evaluation.scoring import Scores, clean_number
from studio.tables import EvaluationImage, ModelVersion, Task

CLASS_COLUMNS = ("class_index", "name", "iou", "dice", "precision", "recall", "accuracy", "f1", "support")


def color_table(version: ModelVersion, count: int) -> list[int]:
    from studio.colors import color_for_index, hex_to_rgb

    colors = {int(c["index"]): c.get("color") for c in version.classes}
    palette: list[int] = []
    for k in range(256):
        try:
            rgb = hex_to_rgb(colors.get(k) or color_for_index(k)) if k < count else (0, 0, 0)
        except ValueError:
            rgb = hex_to_rgb(color_for_index(k))
        palette.extend(rgb)
    return palette


def save_label_png(path: Path, labels: np.ndarray, palette: list[int]) -> None:
    """(H, W) class-index map -> palette PNG (16-bit grey when an index exceeds 255); temp name, renamed."""
    from PIL import Image

    tmp = path.with_name(f".{path.name}.tmp")
    if labels.size and int(labels.max()) > 255:
        Image.fromarray(labels.astype(np.uint16)).save(tmp, format="PNG")
    else:
        image = Image.fromarray(labels.astype(np.uint8), mode="P")
        image.putpalette(palette)
        image.save(tmp, format="PNG", optimize=False)
    tmp.replace(path)


def load_label_png(path: Path) -> np.ndarray:
    """A prediction PNG back as (H, W) int64 class indices."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image).astype(np.int64)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buffer.getvalue())
    tmp.replace(path)


def save_confusion_png(path: Path, cm: np.ndarray, names: Sequence[str], title: str) -> None:
    """Row-normalised heatmap of ``cm`` (rows = ground truth) as a PNG (matplotlib, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cm = np.asarray(cm, np.float64)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(names)
    side = min(max(4.0, 0.55 * n + 2.5), 20.0)
    figure = Figure(figsize=(side, side), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), labels=list(names), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels=list(names), fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title(title, fontsize=10)
    if n <= 25:
        for (r, c), value in np.ndenumerate(shown):
            ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if value > 0.5 else "black")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    figure.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    figure.savefig(tmp, format="png")
    tmp.replace(path)


def write_evaluation_files(folder: Path, version: ModelVersion, what: str, result: Scores,
                 image_rows: Sequence[EvaluationImage], eval_id: int) -> None:
    """The evaluation's files in ``folder``; ``what`` names the data ("shelves v3 val")."""
    write_csv(folder / "summary_metrics.csv", ("metric", "value"),  # matrices and name lists have their own files
               [(k, clean_number(v)) for k, v in result.summary.items() if not isinstance(v, (list, dict))])
    extra_keys = sorted({k for v in result.extra_class_columns.values() for k in v})
    write_csv(folder / "per_class_metrics.csv", (*CLASS_COLUMNS, *extra_keys),
               [(*[row.get(k) for k in CLASS_COLUMNS],
                 *[result.extra_class_columns.get(row["class_index"], {}).get(k) for k in extra_keys])
                for row in result.class_rows])
    if version.task == Task.sequence.value:
        write_csv(folder / "predictions.csv", ("file_name", "gloss", "predicted", "prob", "correct", "category",
                                                "predicted_category"),
                   [(r.file_name, r.labels["gloss"], r.labels["predicted"],  # type: ignore[index]
                     f"{r.labels['prob']:.6f}", int(r.score or 0), r.labels.get("category"),  # type: ignore[index, union-attr]
                     r.labels.get("predicted_category")) for r in image_rows])  # type: ignore[union-attr]
    elif version.task == Task.classification.value:
        write_csv(folder / "predictions.csv", ("file_name", "version_image_id", "true", "pred", "prob", "correct"),
                   [(r.file_name, r.version_image_id, r.labels["true_name"], r.labels["pred_name"],  # type: ignore[index]
                     f"{r.labels['prob']:.6f}", int(r.score or 0)) for r in image_rows])  # type: ignore[index]
    else:
        write_csv(folder / "predictions.csv", ("file_name", "version_image_id", "score", "pixels", "prediction_path"),
                   [(r.file_name, r.version_image_id, "" if r.score is None else f"{r.score:.6f}", img["pixels"],
                     r.prediction_path or "") for r, img in zip(image_rows, result.images)])
    write_csv(folder / "confusion_matrix.csv", ("ground_truth \\ predicted", *result.names),
               [(name, *row) for name, row in zip(result.names, np.asarray(result.confusion).tolist())])
    save_confusion_png(folder / "confusion_matrix.png", result.confusion, result.names,
                       f"{version.name}\n{what} (evaluation {eval_id})")
    if result.category_confusion is not None:
        categories = list(result.summary.get("category_names") or [])
        write_csv(folder / "category_confusion_matrix.csv", ("ground_truth \\ predicted", *categories),
                   [(name, *row) for name, row in zip(categories, np.asarray(result.category_confusion).tolist())])
        save_confusion_png(folder / "category_confusion_matrix.png", result.category_confusion, categories,
                           f"{version.name} categories\n{what} (evaluation {eval_id})")
