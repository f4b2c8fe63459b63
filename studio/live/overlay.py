"""Drawing model outputs on frames: masks in class colours, objects with boxes and labels,
class names with probabilities, and under them the version's full name and a class legend (a
swatch per class in its colour). Frames are (H, W, 3) uint8 RGB; drawing is vectorised (one
colour lookup and one blend per frame), so it costs ~1-2 ms at 640x480.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from studio.colors import color_for_index, hex_to_rgb

ALPHA = 0.5  # mask opacity


def palette(classes: list[dict[str, Any]], size: int = 256) -> np.ndarray:
    """(size, 3) uint8 colour per class-index value; 0 (background) black."""
    lut = np.zeros((size, 3), np.uint8)
    for value in range(1, size):
        lut[value] = hex_to_rgb(color_for_index(value))
    for c in classes:
        if 0 < int(c["index"]) < size and c.get("color"):
            lut[int(c["index"])] = hex_to_rgb(c["color"])
    return lut


def blend_labels(frame: np.ndarray, labels: np.ndarray, lut: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """``frame`` with every non-zero label pixel blended towards its class colour (new array).
    labels: (h, w) int class-index map; resized nearest to the frame when sizes differ."""
    if labels.shape != frame.shape[:2]:
        labels = cv2.resize(labels.astype(np.int32), (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_NEAREST)
    labels = np.clip(labels, 0, len(lut) - 1)
    colours = lut[labels]
    fg = labels > 0
    out = frame.copy()
    out[fg] = (frame[fg] * (1 - alpha) + colours[fg] * alpha).astype(np.uint8)
    return out


def _text(frame: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int]) -> None:
    scale = max(frame.shape[1] / 1300, 0.4)
    thickness = max(int(scale * 2), 1)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = org
    y = max(y, h + base + 2)
    cv2.rectangle(frame, (x, y - h - base - 2), (x + w + 4, y + 2), colour, -1)
    light = sum(colour) > 380
    cv2.putText(frame, text, (x + 2, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 0, 0) if light else (255, 255, 255), thickness, cv2.LINE_AA)


def draw_lines(frame: np.ndarray, lines: list[str], *, top: int = 0) -> np.ndarray:
    """Lines of text on dark bands below ``top`` pixels, left-aligned (in place; returned)."""
    line_height = max(int(frame.shape[1] / 1300 * 40), 18)
    for i, line in enumerate(lines):
        _text(frame, line, (4, top + (i + 1) * line_height + 8), (20, 20, 20))
    return frame


def draw_output(frame: np.ndarray, output: Any, classes: list[dict[str, Any]],
                lut: np.ndarray | None = None) -> np.ndarray:
    """``frame`` with a model's output drawn on it (a new array).

    Semantic (``labels``): blended class colours. Instance (``masks``, ``boxes``): blended
    masks, boxes, class name and score. Classification (``probs``, ``top``): the top-3 names
    with probabilities. Anything else: the frame unchanged.
    """
    lut = palette(classes) if lut is None else lut
    if hasattr(output, "labels"):
        return blend_labels(frame, output.labels, lut)
    if hasattr(output, "masks") and hasattr(output, "boxes"):
        values = list(output.label_values) or [k + 1 for k in range(len(classes))]
        labels = output.to_semantic() if len(output) else np.zeros(frame.shape[:2], np.int64)
        out = blend_labels(frame, labels, lut)
        names = [c["name"] for c in classes]
        for k in range(len(output)):
            ci = int(output.class_indices[k])
            value = values[ci] if ci < len(values) else ci + 1
            colour = tuple(int(v) for v in lut[min(value, len(lut) - 1)])
            x0, y0, x1, y1 = (int(v) for v in output.boxes[k])
            cv2.rectangle(out, (x0, y0), (x1, y1), colour, 2)
            name = names[ci] if ci < len(names) else str(ci)
            _text(out, f"{name} {float(output.scores[k]):.2f}", (x0, y0), colour)
        return out
    if hasattr(output, "probs") and hasattr(output, "top"):
        out = frame.copy()
        return draw_lines(out, [f"{name} {p:.0%}" for name, p in output.top[:3]], top=int(frame.shape[0] * 0.08))
    return frame


def legend_entries(classes: list[dict[str, Any]], lut: np.ndarray | None = None) -> list[tuple[str, tuple[int, int, int]]]:
    """(name, RGB) of each class a model draws (background left out), in index order."""
    lut = palette(classes) if lut is None else lut
    return [(str(c["name"]), tuple(int(v) for v in lut[min(int(c["index"]), len(lut) - 1)]))  # type: ignore[misc]
            for c in sorted(classes, key=lambda c: int(c["index"])) if int(c["index"]) != 0]


def draw_legend(frame: np.ndarray, classes: list[dict[str, Any]], lut: np.ndarray | None = None,
                title: str | None = None) -> np.ndarray:
    """``title`` (e.g. the version's full name) and a swatch + name per class on a dark band at
    the bottom of ``frame``, wrapping onto more rows when the frame is narrow (in place; returned)."""
    entries = legend_entries(classes, lut)
    if not entries and not title:
        return frame
    h, w = frame.shape[:2]
    scale = max(w / 1400, 0.35)
    thickness = max(int(scale * 2), 1)
    (_, text_h), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    row_h, pad, box = text_h + base + 8, 6, text_h + base
    rows: list[list[tuple[str, tuple[int, int, int], int]]] = [[]]
    x = pad
    for name, colour in entries:
        width = box + 4 + cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0] + 12
        if rows[-1] and x + width > w - pad:
            rows.append([])
            x = pad
        rows[-1].append((name, colour, x))
        x += width
    lines = ([title] if title else []) + ([""] * len(rows) if entries else [])
    top = max(0, h - len(lines) * row_h - pad)
    band = frame[top:h]
    band[:] = (band.astype(np.float32) * 0.35).astype(np.uint8)
    y = top + pad // 2
    if title:
        cv2.putText(frame, title, (pad, y + text_h + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness,
                    cv2.LINE_AA)
        y += row_h
    for row in rows if entries else []:
        for name, colour, x0 in row:
            cv2.rectangle(frame, (x0, y + 2), (x0 + box, y + 2 + box), colour, -1)
            cv2.rectangle(frame, (x0, y + 2), (x0 + box, y + 2 + box), (255, 255, 255), 1)
            cv2.putText(frame, name, (x0 + box + 4, y + text_h + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (255, 255, 255), thickness, cv2.LINE_AA)
        y += row_h
    return frame


def drawer(classes: list[dict[str, Any]], title: str | None = None,
           legend: bool = True) -> Callable[[np.ndarray, Any], np.ndarray]:
    """A ``draw(frame, output)`` for a model with ``classes`` (palette computed once): the output,
    then (``legend``) ``title`` (the version's full name) and the class legend at the bottom."""
    lut = palette(classes)
    if not legend:
        return lambda frame, output: draw_output(frame, output, classes, lut)
    return lambda frame, output: draw_legend(draw_output(frame, output, classes, lut), classes, lut, title)
