"""SAM's low-res frame: sizes, a seed's logits (nearest, +-8), a synthetic prediction's
(majority of each cell), and back to a full-size mask."""

import numpy as np
import pytest

from studio.segment.low_res import SEED_LOGIT, logits_to_mask, low_res_size, mask_to_logits, seed_logits


@pytest.mark.parametrize(("h", "w", "expected"), [(480, 640, (192, 256)), (2560, 1920, (256, 192)),
                                                  (256, 256, (256, 256)), (3, 4000, (1, 256))])
def test_low_res_size_is_the_longest_side_at_256(h: int, w: int, expected: tuple[int, int]) -> None:
    assert low_res_size(h, w) == expected


def test_seed_logits_sample_the_mask_and_pad_outside() -> None:
    mask = np.zeros((480, 640), bool)
    mask[100:300, 200:440] = True  # 40..120 x 80..176 in the frame (scale 0.4)
    seed = seed_logits(mask)
    assert seed.shape == (1, 256, 256) and seed.dtype == np.float32
    assert set(np.unique(seed)) == {-SEED_LOGIT, SEED_LOGIT}
    inside = np.argwhere(seed[0] > 0)
    assert inside.min(axis=0).tolist() == [40, 80] and inside.max(axis=0).tolist() == [119, 175]
    assert (seed[0, 192:] < 0).all()  # the padding below the 192 image rows


def test_area_takes_the_majority_where_nearest_samples() -> None:
    mask = np.ones((512, 512), bool)
    mask[::2, ::2] = False  # 3 of the 4 pixels of each 2x2 cell, not the one nearest samples
    area = mask_to_logits(mask, 10, "area")
    nearest = mask_to_logits(mask, 10, "nearest")
    assert area.shape == (256, 256) and set(np.unique(area)) == {10.0}
    assert set(np.unique(nearest)) == {-10.0}


def test_round_trip_keeps_the_object() -> None:
    yy, xx = np.mgrid[0:480, 0:640]
    disc = (xx - 320) ** 2 + (yy - 240) ** 2 < 120 ** 2
    back = logits_to_mask(seed_logits(disc)[0], (480, 640))
    assert back.shape == (480, 640) and back.dtype == bool
    assert (back & disc).sum() / (back | disc).sum() > 0.97
