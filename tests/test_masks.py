"""studio.masks: RLE encode / decode / crops, polygons -> RLE, areas, boxes and IoU, against real pycocotools."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from studio import masks
from studio.errors import InvalidInput
from tests.mask_shapes import MASKS, blobs, donut



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


def test_rle_from_uncompressed_matches_pycocotools() -> None:
    mask = blobs(4)
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


@pytest.mark.parametrize("a, b", [(blobs(5), blobs(6)), (donut(), np.pad(np.ones((20, 20), np.uint8), ((5, 5), (6, 6))))])
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
