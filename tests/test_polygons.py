"""studio.polygons: masks -> polygons with holes and the YOLO joined polygon; rasterised
back by real pycocotools (and a nonzero-rule rasteriser) they give the mask exactly."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from studio import masks, polygons
from tests.mask_shapes import MASKS, blobs, donut


def _raster(polygons: list[list[float]], h: int, w: int) -> np.ndarray:
    """Rasterise polygons with pycocotools (even-odd across all of them)."""
    out = np.zeros((h, w), np.uint8)
    for rle in mask_utils.frPyObjects(polygons, h, w):
        out ^= mask_utils.decode(rle)
    return out


def _nonzero_raster(polygon: list[float], h: int, w: int) -> np.ndarray:
    """Rasterise one polygon with the nonzero winding rule, sampling pixel (x, y) at
    (x+.31, y+.57): inside the pixel, off the pixel edges and off the 45-degree bridges."""
    a = np.asarray(polygon, float).reshape(-1, 2)
    b = np.roll(a, -1, axis=0)
    ys, xs = np.mgrid[0:h, 0:w]
    px, py = xs.reshape(-1, 1) + 0.31, ys.reshape(-1, 1) + 0.57
    side = (b[:, 0] - a[:, 0]) * (py - a[:, 1]) - (px - a[:, 0]) * (b[:, 1] - a[:, 1])
    up = (a[:, 1] <= py) & (b[:, 1] > py) & (side > 0)
    down = (a[:, 1] > py) & (b[:, 1] <= py) & (side < 0)
    winding = up.sum(axis=1) - down.sum(axis=1)
    return (winding != 0).reshape(h, w).astype(np.uint8)


@pytest.mark.parametrize("mask", MASKS)
def test_polygons_with_holes_reproduce_the_mask_exactly(mask: np.ndarray) -> None:
    parts = polygons.polygons_from_mask(mask)
    rings = [r.ravel().tolist() for p in parts for r in (p.outer, *p.holes)]
    got = _raster(rings, *mask.shape) if rings else np.zeros(mask.shape, np.uint8)
    np.testing.assert_array_equal(got, mask.astype(np.uint8))
    assert all(len(r) >= 6 for r in rings)  # no degenerate rings


@pytest.mark.parametrize("mask", MASKS)
def test_rle_and_array_inputs_give_the_same_polygons(mask: np.ndarray) -> None:
    from_array = polygons.polygons_from_mask(mask)
    from_rle = polygons.polygons_from_mask(masks.encode(mask))
    assert [p.outer.tolist() for p in from_array] == [p.outer.tolist() for p in from_rle]


@pytest.mark.parametrize(
    "mask, holes",
    [
        (donut(), True),  # a ring encloses background
        (np.pad(np.ones((4, 4), np.uint8), 2), False),  # solid square
        (np.zeros((5, 5), np.uint8), False),  # empty
        (np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.uint8), True),  # one-pixel hole at the border of the image
        (np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.uint8), True),  # diamond of diagonal pixels encloses its centre
        (np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.uint8), False),  # diagonal line: one 8-connected part, no hole
    ],
)
def test_has_holes_and_coco_polygons(mask: np.ndarray, holes: bool) -> None:
    assert polygons.has_holes(mask) is holes
    coco = polygons.coco_polygons(masks.encode(mask))
    if holes:
        assert coco is None  # COCO polygons cannot hold holes: caller writes RLE
    else:
        assert coco is not None
        expected = mask.astype(np.uint8)
        got = _raster(coco, *mask.shape) if coco else np.zeros_like(expected)
        np.testing.assert_array_equal(got, expected)


def _two_parts_and_island() -> np.ndarray:
    mask = donut(40, 60)
    mask[14:16, 15:17] = 1  # island inside the hole
    mask[30:36, 40:55] = 1  # second part
    return mask


@pytest.mark.parametrize(
    "mask",
    [
        pytest.param(donut(), id="donut"),  # one hole joined by a bridge
        pytest.param(_two_parts_and_island(), id="parts+island"),  # extra parts joined to the main outline
        pytest.param(blobs(2, smooth=True), id="smooth-blobs"),  # many holes and parts
        pytest.param(blobs(3), id="noise"),  # worst case: pixel noise
    ],
)
def test_joined_polygon_keeps_holes_under_both_fill_rules(mask: np.ndarray) -> None:
    polygon = polygons.joined_polygon(mask)
    assert len(polygon) % 2 == 0 and len(polygon) >= 8
    even_odd = _raster([polygon], *mask.shape)
    np.testing.assert_array_equal(even_odd, mask)  # exact with pycocotools
    nonzero = _nonzero_raster(polygon, *mask.shape)
    np.testing.assert_array_equal(nonzero, mask)  # holes wind the other way


def test_joined_polygon_hole_pixels_stay_empty() -> None:
    mask = donut()
    got = _raster([polygons.joined_polygon(mask)], *mask.shape)
    assert got[11:19, 12:20].sum() == 0
    assert masks.iou(masks.encode(got), masks.encode(mask)) == 1.0


def test_joined_polygon_of_empty_mask_is_empty() -> None:
    assert polygons.joined_polygon(np.zeros((4, 4), np.uint8)) == []
    assert polygons.coco_polygons(np.zeros((4, 4), np.uint8)) == []
