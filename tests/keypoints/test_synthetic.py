"""Synthetic signs: shapes, determinism, distinct glosses, and that they are learnable at all."""

from __future__ import annotations

import numpy as np
import pytest

from studio.errors import InvalidInput
from studio.keypoints.layout import HANDS126, present
from studio.keypoints.synthetic import MAX_GLOSSES, gloss_names, generate_signs


def test_shapes_names_and_determinism() -> None:
    clips = generate_signs(5, 3, length=12, seed=1)
    assert len(clips) == 15
    frames, gloss, category = clips[0]
    assert frames.shape == (12, 156) and frames.dtype == np.float32 and np.isfinite(frames).all()
    assert (gloss, category) == ("circle_cw_right_open", "round")
    assert [g for _, g, _ in clips[::3]] == [g for g, _ in gloss_names(5)]
    again = generate_signs(5, 3, length=12, seed=1)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(clips, again, strict=True))
    other = generate_signs(5, 3, length=12, seed=2)
    assert not np.array_equal(clips[0][0], other[0][0])
    names = [g for g, _ in gloss_names(MAX_GLOSSES)]
    assert len(set(names)) == MAX_GLOSSES == 108
    assert {c for _, c in gloss_names(MAX_GLOSSES)} == {"round", "straight", "repeated"}
    with pytest.raises(InvalidInput, match="at most 108 distinct"):
        generate_signs(109, 1)
    with pytest.raises(InvalidInput, match="length: expected an integer >= 2"):
        generate_signs(2, 1, length=1)


def test_hands_follow_the_gloss() -> None:
    clips = generate_signs(36, 1, length=16, layout=HANDS126, seed=0)
    right_only, left_only, both = clips[0][0], clips[12][0], clips[24][0]
    assert clips[12][1].split("_")[-2:-1] == ["left"] and clips[24][1].split("_")[-2:-1] == ["both"]
    assert present(right_only, HANDS126, "right_hand").mean() > 0.8 and not present(right_only, HANDS126,
                                                                                    "left_hand").any()
    assert present(left_only, HANDS126, "left_hand").mean() > 0.8 and not present(left_only, HANDS126,
                                                                                 "right_hand").any()
    assert present(both, HANDS126, "left_hand").mean() > 0.8 and present(both, HANDS126, "right_hand").mean() > 0.8


def test_glosses_are_separable_but_clips_vary() -> None:
    clips = generate_signs(12, 10, length=24, seed=0)
    x = np.stack([f.reshape(-1) for f, _, _ in clips])
    y = np.array([g for _, g, _ in clips])
    train = np.arange(len(clips)) % 2 == 0
    glosses = sorted(set(y))
    centroids = np.stack([x[train & (y == g)].mean(0) for g in glosses])
    nearest = np.array(glosses)[((x[~train, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)]
    assert (nearest == y[~train]).mean() >= 0.9  # chance is 1/12
    same_gloss = x[y == glosses[0]]
    assert np.abs(same_gloss[0] - same_gloss[1]).mean() > 0.01  # no two clips are alike
