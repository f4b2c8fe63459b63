"""The OpenCV fallback segmenter: useful on the demo shelf scenes, right shapes, prompt rules.

Usefulness: a click at the most interior pixel of each product (farthest from its outline)
must give IoU >= 0.9 with the product's exact mask for at least 90% of the products. Speed
is measured in benchmarks/labelling.py, not asserted here.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from studio.demo import render_scene, scene_rng
from studio.errors import InvalidInput
from studio.segment.base import Embedding, Prompt
from studio.segment.fallback import FallbackSegmenter
from studio.segment.low_res import logits_to_mask, mask_to_logits

SCENES = 6


def interior_point(mask: np.ndarray) -> tuple[int, int]:
    """(x, y) of the mask pixel farthest from its outline."""
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def jpeg(image: np.ndarray) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()


@pytest.fixture(scope="module")
def segmenter() -> FallbackSegmenter:
    return FallbackSegmenter()


@pytest.fixture(scope="module")
def scenes(segmenter: FallbackSegmenter) -> list[tuple[Embedding, list[tuple[str, np.ndarray]]]]:
    out = []
    for i in range(SCENES):
        image, instances = render_scene(scene_rng(11, i), 640, 480)
        out.append((segmenter.set_image(jpeg(image) if i % 2 else image), instances))  # half as the JPEG files
    return out


def test_identity() -> None:
    segmenter = FallbackSegmenter()
    assert segmenter.id == "fallback-grabcut-v1" and segmenter.kind == "fallback"
    assert segmenter.name == "Fallback: OpenCV GrabCut (no SAM checkpoint found)"


def test_one_click_per_product_on_demo_scenes(segmenter: FallbackSegmenter, scenes: list) -> None:
    scores: dict[str, list[float]] = {}
    tape_holes = []
    for embedding, instances in scenes:
        for name, truth in instances:
            prediction = segmenter.predict(embedding, Prompt.from_clicks([interior_point(truth)], [1]))
            best = prediction.masks[prediction.order[0]]
            scores.setdefault(name, []).append(iou(best, truth))
            if name == "tape":
                ys, xs = np.nonzero(truth)
                centre = (int(round(ys.mean())), int(round(xs.mean())))
                tape_holes.append(not best[centre] and not truth[centre])
    every = np.concatenate([np.array(v) for v in scores.values()])
    summary = {name: round(float(np.mean(v)), 3) for name, v in scores.items()}
    print(f"fallback, one click: mean IoU {every.mean():.3f} over {len(every)} products; "
          f"IoU >= 0.9 for {(every >= 0.9).mean():.1%}; per class {summary}")
    assert len(every) > 100
    assert (every >= 0.9).mean() >= 0.9, summary
    assert tape_holes and np.mean(tape_holes) >= 0.9  # the roll of tape keeps its hole


def test_a_box_around_a_product(segmenter: FallbackSegmenter, scenes: list) -> None:
    embedding, instances = scenes[0]
    values = []
    for _, truth in instances:
        ys, xs = np.nonzero(truth)
        box = (xs.min() - 3, ys.min() - 3, xs.max() + 3, ys.max() + 3)
        prediction = segmenter.predict(embedding, Prompt.from_clicks([], [], box=box))
        values.append(iou(prediction.masks[prediction.order[0]], truth))
    assert np.mean(np.array(values) >= 0.9) >= 0.9, np.round(values, 2)


def test_shapes_candidates_and_logits(segmenter: FallbackSegmenter, scenes: list) -> None:
    embedding, instances = scenes[0]
    click = Prompt.from_clicks([interior_point(instances[0][1])], [1])
    three = segmenter.predict(embedding, click)
    one = segmenter.predict(embedding, click, multimask=False)
    assert three.masks.shape == (3, 480, 640) and three.masks.dtype == bool
    assert three.scores.shape == (3,) and three.scores.dtype == np.float32
    assert three.logits.shape == (3, 256, 256) and three.logits.dtype == np.float32
    assert set(np.unique(three.logits)) <= {-10.0, 10.0}
    assert one.masks.shape == (1, 480, 640)
    assert np.array_equal(one.masks[0], three.masks[three.order[0]])
    back = logits_to_mask(mask_to_logits(one.masks[0], 10, "area"), (480, 640))
    assert iou(back, one.masks[0]) > 0.85  # 256-pixel logits are coarse, but the same object


def test_refining_clicks_add_and_remove(segmenter: FallbackSegmenter, scenes: list) -> None:
    embedding, instances = scenes[0]
    (_, first), (_, second) = instances[0], instances[1]
    a = segmenter.predict(embedding, Prompt.from_clicks([interior_point(first)], [1]))
    both = segmenter.predict(embedding, Prompt.from_clicks([interior_point(first), interior_point(second)], [1, 1],
                                                           mask_input=a.best_logits()), multimask=False)
    assert iou(both.masks[0], first | second) > 0.85
    without = segmenter.predict(embedding, Prompt.from_clicks([interior_point(first), interior_point(second)], [1, 0],
                                                              mask_input=a.best_logits()), multimask=False)
    assert iou(without.masks[0], first) > 0.85
    assert not without.masks[0][interior_point(second)[::-1]]
    only_negative = segmenter.predict(embedding, Prompt.from_clicks([interior_point(second)], [0],
                                                                    mask_input=both.best_logits()), multimask=False)
    assert only_negative.masks[0][interior_point(first)[::-1]]
    assert not only_negative.masks[0][interior_point(second)[::-1]]


def test_flat_and_tiny_images_do_not_break_it(segmenter: FallbackSegmenter) -> None:
    flat = segmenter.set_image(np.full((40, 50, 3), 128, np.uint8))
    prediction = segmenter.predict(flat, Prompt.from_clicks([(25, 20)], [1]))
    assert prediction.masks.shape == (3, 40, 50)
    tiny = segmenter.set_image(np.random.default_rng(0).integers(0, 255, (2, 3, 3), dtype=np.uint8))
    assert segmenter.predict(tiny, Prompt.from_clicks([(1, 1)], [1])).masks.shape == (3, 2, 3)
    assert segmenter.predict(tiny, Prompt.from_clicks([], [], box=(0, 0, 2, 1))).masks.shape == (3, 2, 3)


def test_bad_prompts_are_refused(segmenter: FallbackSegmenter, scenes: list) -> None:
    embedding, _ = scenes[0]
    with pytest.raises(InvalidInput, match="outside the image"):
        segmenter.predict(embedding, Prompt.from_clicks([(640, 10)], [1]))
    with pytest.raises(InvalidInput, match="at least 1 pixel"):
        segmenter.predict(embedding, Prompt.from_clicks([], [], box=(5, 5, 5, 40)))
    with pytest.raises(InvalidInput, match="mask_input"):
        segmenter.predict(embedding, Prompt.from_clicks([(5, 5)], [1], mask_input=np.zeros((1, 64, 64))))
    with pytest.raises(InvalidInput, match="computed by 'sam-vit_b-random0'"):
        segmenter.predict(Embedding("sam-vit_b-random0", (480, 640), {}), Prompt.from_clicks([(5, 5)], [1]))
