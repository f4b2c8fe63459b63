"""Files of an evaluation: label PNGs (palette), CSV tables, confusion-matrix pictures."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.tables import (
    ModelVersion,
)

CLASS_COLUMNS = ("class_index", "name", "iou", "dice", "precision", "recall", "accuracy", "f1", "support")


def _color_table(version: ModelVersion, count: int) -> list[int]:
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


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
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
