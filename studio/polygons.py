"""Masks -> polygons with holes, traced along pixel edges so that rasterising them with
pycocotools gives the mask back exactly (conventions: ``studio.masks``).

- ``polygons_from_masks`` / ``polygons_from_mask``: the parts of each mask (outer ring and
  hole rings, ``(N, 2)`` int32 pixel-corner coordinates);
- ``coco_polygons``: COCO ``segmentation`` lists, or None when a mask has holes (COCO
  polygons cannot say "hole": keep those as RLE);
- ``joined_polygon``: one polygon per mask with parts and holes joined by zero-width
  bridges (YOLO-seg's one-polygon-per-object format).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from studio.errors import InvalidInput
from studio.masks import MaskLike, decode_crops


class Part(NamedTuple):
    """One connected foreground part: its outer ring and the rings of its holes.

    Each ring is an ``(N, 2)`` int32 array of ``x, y`` pixel-corner coordinates (N >= 4),
    outer rings and hole rings in opposite orientations (as cv2 traces them).
    """

    outer: np.ndarray
    holes: list[np.ndarray]


# --------------------------------------------------------------------------- contours

# 8 chain directions (dx, dy) in image coordinates; index k = angle k*45 deg, y pointing up.
_DIRS = ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))
# Corner of pixel (x, y) lying in diagonal direction k (odd k): offset to add to (x, y).
_CORNERS = {1: (1, 0), 3: (0, 0), 5: (0, 1), 7: (1, 1)}
_SINGLE = 64  # chain code of a one-pixel ring


def _chain_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables for turning cv2 boundary-pixel rings into their crack (pixel-edge) boundary.

    Returns ``dir_of`` (index ``(dy+1)*3 + dx+1`` -> direction k, -1 for no move) and the
    corner offsets ``dx``, ``dy`` (65 x 5): for a boundary pixel whose previous pixel lies in
    direction ``b`` and next pixel in direction ``f`` (code ``b*8 + f``), the corners of that
    pixel swept on the background side, padded by repeating the last one (duplicates are
    dropped later). Code 64 is a ring of one pixel: its four corners.
    """
    dir_of = np.full(9, -1, np.int64)
    for k, (dx, dy) in enumerate(_DIRS):
        dir_of[(dy + 1) * 3 + dx + 1] = k
    offsets = np.zeros((65, 5, 2), np.int64)
    for b in range(8):
        for f in range(8):
            steps = 8 if b == f else (f - b) % 8
            seq = [_CORNERS[(b + s) % 8] for s in range(steps + 1) if (b + s) % 2 == 1]
            offsets[b * 8 + f] = seq + [seq[-1]] * (5 - len(seq))
    offsets[_SINGLE] = [(0, 0), (0, 1), (1, 1), (1, 0), (1, 0)]
    return dir_of, offsets[..., 0], offsets[..., 1]


_DIR_OF, _CORNER_DX, _CORNER_DY = _chain_tables()


def _cyclic_shifts(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rings stored back to back (ring i = ``values[starts[i]:ends[i] + 1]``): each
    element's previous and next element within its ring, cyclically."""
    prev, nxt = np.empty_like(values), np.empty_like(values)
    prev[1:], nxt[:-1] = values[:-1], values[1:]
    prev[starts], nxt[ends] = values[ends], values[starts]
    return prev, nxt


def _bounds(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` (inclusive) of rings of the given lengths stored back to back."""
    ends = np.cumsum(lengths) - 1
    return ends - lengths + 1, ends


def _expand_diagonals(points: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CHAIN_APPROX_SIMPLE rings -> the same rings with every pixel of the diagonal runs put
    back (axis-parallel runs stay compressed: their inner pixels add only collinear corners)."""
    starts, ends = _bounds(lengths)
    _, nxt = _cyclic_shifts(points, starts, ends)
    step = nxt - points
    run = np.abs(step).max(axis=1)
    repeat = np.where((np.abs(step[:, 0]) == np.abs(step[:, 1])) & (run > 1), run, 1)
    if (repeat == 1).all():
        return points, lengths
    owner = np.repeat(np.arange(points.shape[0], dtype=np.int32), repeat)
    offset = np.arange(owner.size, dtype=np.int32) - np.repeat(np.cumsum(repeat, dtype=np.int32) - repeat, repeat)
    expanded = points[owner] + offset[:, None] * np.sign(step)[owner]
    return expanded, _kept_per_ring(repeat, starts, ends)


def _prev_cyclic(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Each element's previous element within its ring (see :func:`_cyclic_shifts`)."""
    prev = np.empty_like(values)
    prev[1:] = values[:-1]
    prev[starts] = values[ends]
    return prev


def _kept_per_ring(keep: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """How many elements of each ring ``keep`` retains."""
    before = np.concatenate(([0], np.cumsum(keep, dtype=np.int64)))
    return before[ends + 1] - before[starts]


def _cracks(points: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """Many boundary rings from cv2 (CHAIN_APPROX_SIMPLE), stored back to back in ``points``
    ``(N, 2)`` with ``lengths`` per ring -> each ring's pixel-edge boundary as an ``(M, 2)``
    int32 array of corner coordinates (M >= 4), collinear vertices removed. One vectorised
    pass for all rings; corners are handled packed as ``x + y * stride`` in one integer."""
    if lengths.size == 0:
        return []
    points, lengths = _expand_diagonals(points, lengths)
    starts, ends = _bounds(lengths)
    prev, nxt = _cyclic_shifts(points, starts, ends)
    back, ahead = np.sign(prev - points), np.sign(nxt - points)
    code = _DIR_OF[back[:, 1] * 3 + back[:, 0] + 4] * 8 + _DIR_OF[ahead[:, 1] * 3 + ahead[:, 0] + 4]
    code[starts[lengths == 1]] = _SINGLE
    stride = int(points[:, 0].max()) + 2
    small = (int(points[:, 1].max()) + 2) * stride < 2**31
    dtype = np.int32 if small else np.int64
    table = (_CORNER_DX + _CORNER_DY * stride).astype(dtype)
    packed = points[:, 0].astype(dtype) + points[:, 1].astype(dtype) * dtype(stride)
    corners = (packed[:, None] + table[code]).ravel()
    cstarts, cends = starts * 5, ends * 5 + 4
    distinct = corners != _prev_cyclic(corners, cstarts, cends)
    counts = _kept_per_ring(distinct, cstarts, cends)
    corners = corners[distinct]
    x, y = corners % dtype(stride), corners // dtype(stride)
    starts, ends = _bounds(counts)
    (xp, xn), (yp, yn) = _cyclic_shifts(x, starts, ends), _cyclic_shifts(y, starts, ends)
    turns = (x - xp) * (yn - y) != (y - yp) * (xn - x)
    counts = _kept_per_ring(turns, starts, ends)
    xy = np.stack((x[turns], y[turns]), axis=1).astype(np.int32, copy=False)
    return np.split(xy, np.cumsum(counts)[:-1])


def _crop_of(mask: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``HxW`` mask -> ``(crop, x0, y0)`` as in :func:`decode_crops`."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InvalidInput(f"expected a 2-D HxW mask, found shape {mask.shape}")
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return np.zeros((0, 0), np.uint8), 0, 0
    x0, x1 = int(cols[0]), int(cols[-1] + 1)
    rows = np.flatnonzero(mask[:, x0:x1].any(axis=1))
    y0, y1 = int(rows[0]), int(rows[-1] + 1)
    return np.ascontiguousarray(mask[y0:y1, x0:x1] != 0, dtype=np.uint8), x0, y0


def _crops(items: Sequence[MaskLike]) -> list[tuple[np.ndarray, int, int]]:
    """Bounding-box crops of masks given as ``HxW`` arrays or RLEs (RLEs decoded in one batch)."""
    rle_at = [i for i, item in enumerate(items) if isinstance(item, dict)]
    crops: list[tuple[np.ndarray, int, int]] = [
        _crop_of(item) if not isinstance(item, dict) else (np.zeros((0, 0), np.uint8), 0, 0) for item in items
    ]
    for i, crop in zip(rle_at, decode_crops([items[i] for i in rle_at])):  # type: ignore[misc]
        crops[i] = crop
    return crops


def polygons_from_masks(items: Sequence[MaskLike]) -> list[list[Part]]:
    """Many masks (``HxW`` arrays or RLEs) -> for each, its parts: outer rings with their holes.

    cv2.findContours (RETR_CCOMP hierarchy) runs on each mask's bounding-box crop; the chains
    of all masks are turned into pixel-edge rings in one vectorised pass. Rings are ``(N, 2)``
    int32 pixel-corner coordinates in the full image (see :class:`Part`); a part lying inside
    another part's hole is a part of its own.
    """
    chains: list[np.ndarray] = []
    lengths: list[int] = []
    layout: list[tuple[int, np.ndarray]] = []  # (first ring number, parent of each ring) per mask
    for crop, x0, y0 in _crops(items):
        if crop.size == 0:
            layout.append((len(lengths), np.zeros(0, np.int64)))
            continue
        contours, hierarchy = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        layout.append((len(lengths), hierarchy.reshape(-1, 4)[:, 3]))
        lengths += [len(c) for c in contours]
        chains.append(np.concatenate(contours).reshape(-1, 2) + np.array([x0, y0], np.int32))
    points = np.concatenate(chains) if chains else np.zeros((0, 2), np.int32)
    rings = _cracks(points, np.asarray(lengths, np.int64))
    result = []
    for first, parents in layout:
        parts: dict[int, Part] = {}
        for i in np.flatnonzero(parents < 0):
            parts[int(i)] = Part(rings[first + i], [])
        for i in np.flatnonzero(parents >= 0):
            parts[int(parents[i])].holes.append(rings[first + i])
        result.append(list(parts.values()))
    return result


def polygons_from_mask(mask: MaskLike) -> list[Part]:
    """One mask (``HxW`` array or RLE) -> its parts (see :func:`polygons_from_masks`)."""
    return polygons_from_masks([mask])[0]


def has_holes(mask: MaskLike) -> bool:
    """Whether any foreground part of the mask (``HxW`` array or RLE) encloses background
    (8-connected foreground, 4-connected background, as cv2 traces them)."""
    crop, _, _ = _crops([mask])[0]
    if crop.size == 0:
        return False
    _, hierarchy = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return bool((hierarchy.reshape(-1, 4)[:, 3] >= 0).any())


def _coco_polygons_of(parts: list[Part]) -> list[list[float]] | None:
    if any(p.holes for p in parts):
        return None
    return [p.outer.ravel().tolist() for p in parts]


def coco_polygons_many(items: Sequence[MaskLike]) -> list[list[list[float]] | None]:
    """Batch :func:`coco_polygons`."""
    return [_coco_polygons_of(parts) for parts in polygons_from_masks(items)]


def coco_polygons(mask: MaskLike) -> list[list[float]] | None:
    """Mask (``HxW`` array or RLE) -> COCO polygons (one flat ``[x1, y1, ...]`` list per part,
    integer pixel-corner coordinates), or None when the mask has a hole (COCO polygons cannot
    express holes: write RLE instead). An empty mask gives ``[]``. Rasterising the result with
    pycocotools reproduces the mask exactly."""
    return _coco_polygons_of(polygons_from_mask(mask))


def _closed(ring: np.ndarray) -> np.ndarray:
    """The ring with its first vertex repeated at the end."""
    return np.concatenate((ring, ring[:1]))


def _bridge_into(ring: np.ndarray, loops: list[np.ndarray]) -> np.ndarray:
    """Join closed ``loops`` (each starting and ending at the same vertex) into ``ring``.

    Each loop is attached at the ring vertex nearest its start by a zero-width bridge:
    ``ring[i] -> loop ... loop[0] -> ring[i]``. The bridges are walked once each way, so they
    add nothing under either the even-odd or the nonzero fill rule.
    """
    if not loops:
        return ring
    at = [int(np.argmin(((ring - loop[0]) ** 2).sum(axis=1))) for loop in loops]
    pieces: list[np.ndarray] = []
    start = 0
    for i in np.argsort(at, kind="stable"):
        idx = at[i]
        pieces += [ring[start : idx + 1], loops[i], ring[idx : idx + 1]]
        start = idx + 1
    pieces.append(ring[start:])
    return np.concatenate(pieces)


def _joined_of(parts: list[Part]) -> list[float]:
    if not parts:
        return []
    joined = [_bridge_into(p.outer, [_closed(h) for h in p.holes]) for p in parts]
    main = int(np.argmax([abs(cv2.contourArea(p.outer)) for p in parts])) if len(parts) > 1 else 0
    others = [_closed(j) for i, j in enumerate(joined) if i != main]
    return _bridge_into(joined[main], others).ravel().tolist()


def joined_polygons(items: Sequence[MaskLike]) -> list[list[float]]:
    """Batch :func:`joined_polygon`."""
    return [_joined_of(parts) for parts in polygons_from_masks(items)]


def joined_polygon(mask: MaskLike) -> list[float]:
    """Mask (``HxW`` array or RLE) -> ONE flat polygon ``[x1, y1, ...]`` (integer pixel-corner
    coordinates) for YOLO-seg, which allows a single polygon per instance.

    Holes are joined to their outline, and extra parts to the largest part's outline, by
    zero-width bridges; holes keep their opposite orientation, so rasterising the polygon with
    the even-odd or the nonzero rule reproduces holes and parts. Empty mask -> ``[]``.
    """
    return _joined_of(polygons_from_mask(mask))
