"""studio.masks: RLE, polygons (holes kept) and the YOLO joined polygon, against real pycocotools."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from studio import masks
from studio.errors import InvalidInput


def _blobs(seed: int, h: int = 40, w: int = 45, smooth: bool = False) -> np.ndarray:
    """A random mask with many parts, holes and islands in holes."""
    rng = np.random.default_rng(seed)
    mask = (rng.random((h, w)) < 0.35).astype(np.uint8)
    return cv2.medianBlur(mask * 255, 3) // 255 if smooth else mask


def _donut(h: int = 30, w: int = 32) -> np.ndarray:
    """A square ring: outer 20x20, hole 8x8 in the middle."""
    mask = np.zeros((h, w), np.uint8)
    mask[5:25, 6:26] = 1
    mask[11:19, 12:20] = 0
    return mask


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


MASKS = [
    pytest.param(np.zeros((7, 9), np.uint8), id="empty"),  # no foreground at all
    pytest.param(np.ones((7, 9), np.uint8), id="full"),  # foreground touching every border
    pytest.param(np.pad(np.ones((1, 1), np.uint8), ((3, 2), (4, 1))), id="one-pixel"),  # smallest object
    pytest.param(_donut(), id="donut"),  # one hole
    pytest.param(_blobs(0), id="noise"),  # many parts, holes, diagonal touches
    pytest.param(_blobs(1, 120, 150, smooth=True), id="smooth-blobs"),  # larger, realistic shapes
    pytest.param(np.eye(12, dtype=bool), id="bool-diagonal"),  # bool input, 8-connected line
]


@pytest.mark.parametrize("mask", MASKS)
def test_encode_decode_round_trip_is_exact(mask: np.ndarray) -> None:
    rle = masks.encode(mask)
    assert isinstance(rle["counts"], str)
    assert rle["size"] == list(mask.shape)
    np.testing.assert_array_equal(masks.decode(rle), mask.astype(np.uint8))
    np.testing.assert_array_equal(mask_utils.decode(rle), mask.astype(np.uint8))  # pycocotools agrees
    assert masks.area(rle) == int(mask.astype(bool).sum())


@pytest.mark.parametrize("mask", MASKS)
def test_decode_crop_is_the_bounding_box(mask: np.ndarray) -> None:
    crop, x0, y0 = masks.decode_crop(masks.encode(mask))
    full = np.zeros(mask.shape, np.uint8)
    full[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    np.testing.assert_array_equal(full, mask.astype(np.uint8))
    if mask.any():
        x, y, w, h = masks.bbox(masks.encode(mask))
        assert (x0, y0, crop.shape[1], crop.shape[0]) == (x, y, w, h)


@pytest.mark.parametrize("mask", MASKS)
def test_polygons_with_holes_reproduce_the_mask_exactly(mask: np.ndarray) -> None:
    parts = masks.polygons_from_mask(mask)
    rings = [r.ravel().tolist() for p in parts for r in (p.outer, *p.holes)]
    got = _raster(rings, *mask.shape) if rings else np.zeros(mask.shape, np.uint8)
    np.testing.assert_array_equal(got, mask.astype(np.uint8))
    assert all(len(r) >= 6 for r in rings)  # no degenerate rings


@pytest.mark.parametrize("mask", MASKS)
def test_rle_and_array_inputs_give_the_same_polygons(mask: np.ndarray) -> None:
    from_array = masks.polygons_from_mask(mask)
    from_rle = masks.polygons_from_mask(masks.encode(mask))
    assert [p.outer.tolist() for p in from_array] == [p.outer.tolist() for p in from_rle]


@pytest.mark.parametrize(
    "mask, holes",
    [
        (_donut(), True),  # a ring encloses background
        (np.pad(np.ones((4, 4), np.uint8), 2), False),  # solid square
        (np.zeros((5, 5), np.uint8), False),  # empty
        (np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.uint8), True),  # one-pixel hole at the border of the image
        (np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.uint8), True),  # diamond of diagonal pixels encloses its centre
        (np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.uint8), False),  # diagonal line: one 8-connected part, no hole
    ],
)
def test_has_holes_and_coco_polygons(mask: np.ndarray, holes: bool) -> None:
    assert masks.has_holes(mask) is holes
    polygons = masks.coco_polygons(masks.encode(mask))
    if holes:
        assert polygons is None  # COCO polygons cannot hold holes: caller writes RLE
    else:
        assert polygons is not None
        expected = mask.astype(np.uint8)
        got = _raster(polygons, *mask.shape) if polygons else np.zeros_like(expected)
        np.testing.assert_array_equal(got, expected)


def _two_parts_and_island() -> np.ndarray:
    mask = _donut(40, 60)
    mask[14:16, 15:17] = 1  # island inside the hole
    mask[30:36, 40:55] = 1  # second part
    return mask


@pytest.mark.parametrize(
    "mask",
    [
        pytest.param(_donut(), id="donut"),  # one hole joined by a bridge
        pytest.param(_two_parts_and_island(), id="parts+island"),  # extra parts joined to the main outline
        pytest.param(_blobs(2, smooth=True), id="smooth-blobs"),  # many holes and parts
        pytest.param(_blobs(3), id="noise"),  # worst case: pixel noise
    ],
)
def test_joined_polygon_keeps_holes_under_both_fill_rules(mask: np.ndarray) -> None:
    polygon = masks.joined_polygon(mask)
    assert len(polygon) % 2 == 0 and len(polygon) >= 8
    even_odd = _raster([polygon], *mask.shape)
    np.testing.assert_array_equal(even_odd, mask)  # exact with pycocotools
    nonzero = _nonzero_raster(polygon, *mask.shape)
    np.testing.assert_array_equal(nonzero, mask)  # holes wind the other way


def test_joined_polygon_hole_pixels_stay_empty() -> None:
    mask = _donut()
    got = _raster([masks.joined_polygon(mask)], *mask.shape)
    assert got[11:19, 12:20].sum() == 0
    assert masks.iou(masks.encode(got), masks.encode(mask)) == 1.0


def test_joined_polygon_of_empty_mask_is_empty() -> None:
    assert masks.joined_polygon(np.zeros((4, 4), np.uint8)) == []
    assert masks.coco_polygons(np.zeros((4, 4), np.uint8)) == []


def test_rle_from_uncompressed_matches_pycocotools() -> None:
    mask = _blobs(4)
    fortran = mask_utils.encode(np.asfortranarray(mask))
    runs = masks._runs_from_string(fortran["counts"].decode()).tolist()
    rle = masks.rle_from_uncompressed({"size": list(mask.shape), "counts": runs})
    np.testing.assert_array_equal(masks.decode(rle), mask)
    reference = mask_utils.frPyObjects({"size": list(mask.shape), "counts": runs}, *mask.shape)
    assert rle["counts"] == reference["counts"].decode()


def test_rle_from_polygons_merges_and_matches_pycocotools() -> None:
    polys = [[1, 1, 6, 1, 6, 6, 1, 6], [4, 4, 9, 4, 9, 9]]
    rle = masks.rle_from_polygons(polys, 12, 11)
    reference = mask_utils.merge(mask_utils.frPyObjects(polys, 12, 11))
    assert rle == {"size": [12, 11], "counts": reference["counts"].decode()}
    assert masks.area(masks.rle_from_polygons([], 3, 4)) == 0  # no polygon: empty mask


@pytest.mark.parametrize("a, b", [(_blobs(5), _blobs(6)), (_donut(), np.pad(np.ones((20, 20), np.uint8), ((5, 5), (6, 6))))])
def test_iou_area_bbox_match_pycocotools(a: np.ndarray, b: np.ndarray) -> None:
    ra, rb = masks.encode(a), masks.encode(b)
    expected = (a & b).sum() / (a | b).sum()
    assert masks.iou(ra, rb) == pytest.approx(expected)
    assert masks.bbox(ra) == mask_utils.toBbox(ra).tolist()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: masks.encode(np.zeros((2, 2, 3))), "expected a 2-D HxW mask"),  # colour image, not a mask
        (lambda: masks.decode({"size": [2, 2], "counts": "3"}), "sum to height*width = 4"),  # runs too short
        (lambda: masks.decode({"size": [2, 2], "counts": [4]}), "compressed RLE 'counts' as str"),  # list counts
        (lambda: masks.decode({"size": [2], "counts": "4"}), "[height, width]"),  # size malformed
        (lambda: masks.decode({"counts": "4"}), "'size' and 'counts'"),  # key missing
        (lambda: masks.decode({"size": [2, 2], "counts": "4\x7f"}), "characters"),  # not an RLE string
        (lambda: masks.rle_from_uncompressed({"size": [2, 2], "counts": [1, 2]}), "sum to height*width = 4"),
        (lambda: masks.rle_from_uncompressed({"size": [2, 2], "counts": [5, -1]}), "non-negative ints"),
        (lambda: masks.rle_from_polygons([[0, 0, 1, 1]], 4, 4), ">= 3 points, found 4 values"),  # 2 points only
        (lambda: masks.rle_from_polygons([[0, 0, 1, 1, 2]], 4, 4), "even number"),  # odd coordinate count
        (lambda: masks.rle_from_polygons([["a", 0, 1, 1, 2, 2]], 4, 4), "flat list of numbers"),  # non-numeric
        (lambda: masks.iou(masks.encode(np.ones((2, 2))), masks.encode(np.ones((3, 2)))), "same size"),
    ],
)
def test_bad_input_raises_invalid_input(call, message: str) -> None:
    with pytest.raises(InvalidInput, match=None) as info:
        call()
    assert message in str(info.value)
