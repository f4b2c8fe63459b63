"""Mask conversions: COCO RLE <-> binary masks (and polygons -> RLE); pycocotools underneath.
Masks -> polygons with holes: ``studio.polygons``.

Conventions used throughout:

- A *mask* is a 2-D ``HxW`` array (bool or uint8; any non-zero value is foreground).
- An *RLE* is a COCO compressed run-length dict ``{"size": [h, w], "counts": str}``; runs are
  in column-major (Fortran) order and ``counts`` is always a ``str`` (pycocotools returns
  ``bytes``; we decode before storing so the dict is JSON-ready).
- Polygon coordinates are COCO *pixel-corner* coordinates: pixel ``(x, y)`` covers
  ``[x, x+1) x [y, y+1)``. The polygons produced here trace the pixel edges (the "crack"
  boundary), so rasterising them with pycocotools reproduces the mask exactly.
- A flat polygon is ``[x1, y1, x2, y2, ...]`` (COCO ``segmentation`` list entry).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from studio.errors import InvalidInput

RLE = dict[str, Any]  # {"size": [h, w], "counts": str}
MaskLike = np.ndarray | RLE


# --------------------------------------------------------------------------- RLE basics


def _check_rle(rle: Any) -> tuple[int, int, str]:
    """Validate a compressed RLE dict; return ``(h, w, counts_str)``."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise InvalidInput(f"expected an RLE dict with 'size' and 'counts', found {rle!r:.80}")
    size, counts = rle["size"], rle["counts"]
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in size)
    ):
        raise InvalidInput(f"expected RLE 'size' = [height, width] (non-negative ints), found {size!r}")
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if not isinstance(counts, str):
        raise InvalidInput(
            f"expected compressed RLE 'counts' as str, found {type(counts).__name__}"
            " (use rle_from_uncompressed for list counts)"
        )
    return int(size[0]), int(size[1]), counts


def _runs_of_strings(counts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Decompress many COCO counts strings at once (vectorised over all of them).

    Returns ``(runs, offsets)``: the run lengths (int64) of string ``i`` are
    ``runs[offsets[i]:offsets[i + 1]]``. Format (pycocotools ``rleFrString``): each number is
    a little-endian sequence of 5-bit groups stored as ``chr(48 + group)``, bit 0x20 = "more
    groups follow", bit 0x10 of the last group = sign; from the third number of a string on,
    each value is a delta to the number two positions earlier.
    """
    lengths = np.fromiter(map(len, counts), np.int64, len(counts))
    char_end = np.cumsum(lengths)
    try:
        data = "".join(counts).encode("ascii")
    except UnicodeEncodeError:
        raise InvalidInput("expected RLE counts made of characters '0'..'o', found other characters") from None
    if not data:
        return np.zeros(0, np.int64), np.zeros(len(counts) + 1, np.int64)
    chars = np.frombuffer(data, np.uint8) - np.uint8(48)
    if chars.max() > 63:
        raise InvalidInput("expected RLE counts made of characters '0'..'o', found other characters")
    chars = chars.astype(np.int64)
    is_last = (chars & 0x20) == 0
    if not is_last[char_end[lengths > 0] - 1].all():
        raise InvalidInput("RLE counts string is truncated (last number is unfinished)")
    last = np.flatnonzero(is_last)
    first = np.concatenate(([0], last[:-1] + 1))
    number = np.repeat(np.arange(last.size), last - first + 1)
    shift = 5 * (np.arange(chars.size) - first[number])
    values = np.bincount(number, weights=(chars & 0x1F) << shift, minlength=last.size).astype(np.int64)
    negative = (chars[last] & 0x10) != 0
    values[negative] -= np.int64(1) << (shift[last[negative]] + 5)
    offsets = np.concatenate(([0], np.concatenate(([0], np.cumsum(is_last)))[char_end]))
    local = np.arange(values.size) - np.repeat(offsets[:-1], np.diff(offsets))
    runs = values.copy()
    for parity in (0, 1):  # undo the delta coding: a cumulative sum per parity, restarting per string
        v = values[parity::2]
        restart = np.where(local[parity::2] <= 2, np.arange(v.size), 0)
        total = np.cumsum(v)
        runs[parity::2] = total - (total - v)[np.maximum.accumulate(restart)]
    return runs, offsets


def _runs_from_string(counts: str) -> np.ndarray:
    """Run lengths (int64) of one COCO counts string (see :func:`_runs_of_strings`)."""
    return _runs_of_strings([counts])[0]


def _checked_runs_many(rles: list[RLE]) -> list[tuple[int, int, np.ndarray]]:
    """``(h, w, runs)`` for each compressed RLE, checking its runs cover exactly ``h*w`` pixels."""
    checked = [_check_rle(rle) for rle in rles]
    runs, offsets = _runs_of_strings([c for _, _, c in checked])
    ends = np.concatenate(([0], np.cumsum(runs)))
    sums = ends[offsets[1:]] - ends[offsets[:-1]]
    negatives = np.concatenate(([0], np.cumsum(runs < 0)))
    negative = negatives[offsets[1:]] - negatives[offsets[:-1]]
    expected = np.array([h * w for h, w, _ in checked], np.int64)
    bad = np.flatnonzero((sums != expected) | (negative > 0))
    if bad.size:
        i = int(bad[0])
        which = f"RLE #{i}: " if len(rles) > 1 else ""
        raise InvalidInput(
            f"{which}RLE runs must be non-negative and sum to height*width = {int(expected[i])}, "
            f"found sum {int(sums[i])}"
        )
    return [(h, w, runs[offsets[i] : offsets[i + 1]]) for i, (h, w, _) in enumerate(checked)]


def _columns(h: int, w: int, runs: np.ndarray) -> np.ndarray:
    """The mask as a ``(w, h)`` uint8 array (column-major pixels as rows), from its runs."""
    values = np.zeros(runs.size, np.uint8)
    values[1::2] = 1
    return np.repeat(values, runs).reshape(w, h)


def _crop_from_runs(h: int, w: int, runs: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``(crop, x0, y0)`` of a mask given its runs and its pycocotools bbox ``[x, y, w, h]``;
    only the runs of the box's columns are expanded."""
    x0, y0, bw, bh = (int(v) for v in box)
    if bw == 0 or bh == 0:
        return np.zeros((0, 0), np.uint8), 0, 0
    lo, hi = x0 * h, (x0 + bw) * h  # column-major pixel range of the box's columns
    ends = np.cumsum(runs)
    first, last = int(np.searchsorted(ends, lo, "right")), int(np.searchsorted(ends, hi, "left"))
    piece = runs[first : last + 1].copy()
    piece[0] = ends[first] - lo
    piece[-1] -= ends[last] - hi
    values = np.zeros(piece.size, np.uint8)
    values[(first + 1) % 2 :: 2] = 1  # odd runs are foreground
    cols = np.repeat(values, piece).reshape(bw, h)
    return np.ascontiguousarray(cols[:, y0 : y0 + bh].T), x0, y0


def encode(mask: np.ndarray) -> RLE:
    """``HxW`` bool/uint8 mask (non-zero = foreground) -> compressed RLE with ``str`` counts."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InvalidInput(f"expected a 2-D HxW mask, found shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask != 0, dtype=np.uint8))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode(rle: RLE) -> np.ndarray:
    """Compressed RLE -> ``HxW`` uint8 mask of 0/1 (Fortran-ordered, like pycocotools)."""
    ((h, w, runs),) = _checked_runs_many([rle])
    return _columns(h, w, runs).T


def decode_crops(rles: list[RLE]) -> list[tuple[np.ndarray, int, int]]:
    """Compressed RLEs -> ``(crop, x0, y0)`` each: the C-contiguous ``hc x wc`` uint8 crop of
    the mask's bounding box and its top-left pixel; an empty mask gives a ``0x0`` crop at
    ``(0, 0)``. All count strings are decompressed in one vectorised pass."""
    if not rles:
        return []
    checked = _checked_runs_many(rles)
    boxes = mask_utils.toBbox(rles)
    return [_crop_from_runs(h, w, runs, box) for (h, w, runs), box in zip(checked, boxes)]


def decode_crop(rle: RLE) -> tuple[np.ndarray, int, int]:
    """One RLE -> ``(crop, x0, y0)`` as in :func:`decode_crops`."""
    return decode_crops([rle])[0]


def rle_from_uncompressed(rle_dict: dict[str, Any]) -> RLE:
    """COCO uncompressed RLE ``{"size": [h, w], "counts": [int, ...]}`` -> compressed RLE."""
    if not isinstance(rle_dict, dict) or "size" not in rle_dict or "counts" not in rle_dict:
        raise InvalidInput(f"expected an RLE dict with 'size' and 'counts', found {rle_dict!r:.80}")
    counts = rle_dict["counts"]
    if not isinstance(counts, list) or not all(
        isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 0 for c in counts
    ):
        raise InvalidInput("expected uncompressed RLE 'counts' as a list of non-negative ints")
    h, w, _ = _check_rle({"size": rle_dict["size"], "counts": ""})
    runs = np.asarray(counts, np.int64)
    if int(runs.sum()) != h * w:
        raise InvalidInput(f"RLE counts must sum to height*width = {h * w}, found {int(runs.sum())}")
    return encode(_columns(h, w, runs).T)  # re-encode: canonical runs (no zero-length runs)


def rle_from_polygons(polys: list[list[float]], h: int, w: int) -> RLE:
    """COCO polygons (flat ``[x1, y1, x2, y2, ...]`` lists, >= 3 points each) -> one merged RLE
    of size ``h x w``. An empty list gives an empty mask."""
    if not isinstance(polys, list):
        raise InvalidInput(f"expected a list of polygons, found {type(polys).__name__}")
    for i, poly in enumerate(polys):
        if not isinstance(poly, (list, tuple)) or not all(
            isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in poly
        ):
            raise InvalidInput(f"polygon {i}: expected a flat list of numbers [x1, y1, x2, y2, ...]")
        if len(poly) % 2 or len(poly) < 6:
            raise InvalidInput(
                f"polygon {i}: expected an even number of coordinates for >= 3 points, found {len(poly)} values"
            )
    if not polys:
        return rle_from_uncompressed({"size": [h, w], "counts": [h * w]})
    merged = mask_utils.merge(mask_utils.frPyObjects([list(map(float, p)) for p in polys], h, w))
    return {"size": [int(h), int(w)], "counts": merged["counts"].decode("ascii")}


def area(rle: RLE) -> int:
    """Number of foreground pixels."""
    _check_rle(rle)
    return int(mask_utils.area(rle))


def bbox(rle: RLE) -> list[float]:
    """Bounding box ``[x, y, w, h]`` in pixel-corner coordinates (all zeros for an empty mask)."""
    _check_rle(rle)
    return [float(v) for v in mask_utils.toBbox(rle)]


def areas(rles: list[RLE]) -> list[int]:
    """Foreground pixel counts of many RLEs (pycocotools, in chunks of 255: with NumPy 2,
    pycocotools 2.0.11 ``area`` fails on longer lists with "out of bounds for uint8")."""
    return [int(v) for i in range(0, len(rles), 255) for v in mask_utils.area(rles[i : i + 255])]


def bboxes(rles: list[RLE]) -> list[list[float]]:
    """Bounding boxes ``[x, y, w, h]`` of many RLEs (one pycocotools call)."""
    return mask_utils.toBbox(rles).tolist() if rles else []


def iou(a: RLE, b: RLE) -> float:
    """Intersection over union of two RLEs of the same size; two empty masks give 1.0."""
    ha, wa, _ = _check_rle(a)
    hb, wb, _ = _check_rle(b)
    if (ha, wa) != (hb, wb):
        raise InvalidInput(f"iou: expected masks of the same size, found {[ha, wa]} and {[hb, wb]}")
    if mask_utils.area(a) == 0 and mask_utils.area(b) == 0:
        return 1.0
    return float(mask_utils.iou([a], [b], [0])[0][0])
