"""The synthetic shelf scenes: determinism, exact and disjoint masks, holes, and the doc."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from studio.demo import (
    DEMO_CLASSES,
    MIN_MASK_AREA,
    generate_demo,
    generate_images,
    render_scene,
    scene_rng,
)
from studio.formats.records import DatasetDoc

# pycocotools' decode trips numpy 2's copy-keyword deprecation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

N_IMAGES = 6
SIZE = (320, 240)  # width, height: small so the suite stays fast


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DatasetDoc]:
    out = tmp_path_factory.mktemp("demo")
    return out, generate_demo(out, n_images=N_IMAGES, seed=7, width=SIZE[0], height=SIZE[1])


@pytest.fixture(scope="module")
def scenes() -> list[tuple[np.ndarray, list[tuple[str, np.ndarray]]]]:
    """Full-size scenes straight from the renderer (no JPEG loss)."""
    return [render_scene(scene_rng(11, i)) for i in range(4)]


def _decode(rle: dict) -> np.ndarray:
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)


def _has_hole(mask: np.ndarray) -> bool:
    """True when some contour of ``mask`` has a parent, i.e. encloses background (RETR_CCOMP)."""
    _, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0][:, 3] != -1).any())


# ---------------------------------------------------------------- determinism


def test_same_seed_same_bytes_and_masks(tmp_path: Path, demo: tuple[Path, DatasetDoc]) -> None:
    out, doc = demo
    again = generate_demo(tmp_path / "again", n_images=N_IMAGES, seed=7, width=SIZE[0], height=SIZE[1])
    assert [(i.key, i.split) for i in again.images] == [(i.key, i.split) for i in doc.images]
    for a, b in zip(doc.images, again.images):
        assert a.path is not None and b.path is not None
        assert a.path.read_bytes() == b.path.read_bytes(), a.key
    assert [(a.image_key, a.class_name, a.rle) for a in again.annotations] == \
           [(a.image_key, a.class_name, a.rle) for a in doc.annotations]


def test_different_seed_differs(tmp_path: Path, demo: tuple[Path, DatasetDoc]) -> None:
    _, doc = demo
    other = generate_demo(tmp_path / "other", n_images=2, seed=8, width=SIZE[0], height=SIZE[1])
    for a, b in zip(doc.images, other.images):
        assert a.path is not None and b.path is not None
        assert a.path.read_bytes() != b.path.read_bytes()


def test_render_scene_is_a_function_of_the_generator() -> None:
    image_a, masks_a = render_scene(scene_rng(3, 5), 320, 240)
    image_b, masks_b = render_scene(scene_rng(3, 5), 320, 240)
    assert np.array_equal(image_a, image_b)
    assert [n for n, _ in masks_a] == [n for n, _ in masks_b]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(masks_a, masks_b))


def test_generate_images_matches_demo_pixels(tmp_path: Path, demo: tuple[Path, DatasetDoc]) -> None:
    _, doc = demo
    paths = generate_images(tmp_path / "bench", 2, seed=7, width=SIZE[0], height=SIZE[1])
    assert [p.name for p in paths] == ["shelf_0000.jpg", "shelf_0001.jpg"]
    for path, record in zip(paths, doc.images):
        assert record.path is not None and path.read_bytes() == record.path.read_bytes()
    assert not list((tmp_path / "bench").glob(".*")), "temp files left behind"


# ---------------------------------------------------------------- masks


def test_scene_shapes_and_types(scenes: list) -> None:
    for image, instances in scenes:
        assert image.shape == (480, 640, 3) and image.dtype == np.uint8
        for name, mask in instances:
            assert mask.shape == (480, 640) and mask.dtype == bool, name


def test_masks_non_empty_and_disjoint(scenes: list) -> None:
    for _, instances in scenes:
        areas = [int(m.sum()) for _, m in instances]
        assert min(areas) >= MIN_MASK_AREA
        coverage = np.sum([m for _, m in instances], axis=0)
        assert coverage.max() == 1, "two instance masks share a pixel"


def test_every_scene_shows_several_classes(scenes: list, demo: tuple[Path, DatasetDoc]) -> None:
    for _, instances in scenes:
        assert len({n for n, _ in instances}) >= 4
    _, doc = demo
    for key, anns in doc.annotations_by_image().items():
        assert len({a.class_name for a in anns}) >= 3, key
    assert {a.class_name for a in doc.annotations} == {c.name for c in DEMO_CLASSES}


def test_tape_masks_have_holes_and_others_do_not(scenes: list) -> None:
    tapes = [m for _, instances in scenes for n, m in instances if n == "tape"]
    assert tapes and all(_has_hole(m) for m in tapes)
    others = [m for _, instances in scenes for n, m in instances if n != "tape"]
    assert not any(_has_hole(m) for m in others)


def test_masks_differ_from_the_wall_around_them(scenes: list) -> None:
    kernel = np.ones((9, 9), np.uint8)
    for image, instances in scenes:
        anything = np.any([m for _, m in instances], axis=0)
        for name, mask in instances:
            ring = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) & ~anything
            inside = image[mask].astype(float).mean(axis=0)
            around = image[ring].astype(float).mean(axis=0)
            assert np.linalg.norm(inside - around) > 40, (name, inside, around)


def test_tape_hole_shows_the_wall(scenes: list) -> None:
    image, instances = scenes[0]
    for name, mask in instances:
        if name != "tape":
            continue
        filled = np.zeros_like(mask, np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(filled, contours, -1, 1, -1)
        hole = filled.astype(bool) & ~mask
        ring = image[mask].astype(float).mean(axis=0)
        assert np.linalg.norm(image[hole].astype(float).mean(axis=0) - ring) > 40


# channel order R, G, B: what the mean colour inside a class's masks must satisfy
COLOUR_FAMILIES = [
    ("box", lambda r, g, b: b > r + 40 and b > g),  # blue
    ("jar", lambda r, g, b: r > g > b + 40),  # orange
    ("bottle", lambda r, g, b: g > r + 40 and g > b + 20),  # green
    ("can", lambda r, g, b: r > g + 60 and r > b + 60),  # red
    ("tape", lambda r, g, b: r > g + 30 and b > g + 30),  # purple
]


@pytest.mark.parametrize(("name", "family"), COLOUR_FAMILIES, ids=[n for n, _ in COLOUR_FAMILIES])
def test_class_colour_family(scenes: list, name: str, family) -> None:  # noqa: ANN001
    pixels = np.concatenate([img[m] for img, instances in scenes for n, m in instances if n == name])
    r, g, b = pixels.astype(float).mean(axis=0)
    assert family(r, g, b), (name, r, g, b)


# ---------------------------------------------------------------- the doc


def test_doc_is_consistent(demo: tuple[Path, DatasetDoc]) -> None:
    out, doc = demo
    assert [(c.name, c.index) for c in doc.classes] == [(c.name, c.index) for c in DEMO_CLASSES]
    assert [c.index for c in doc.classes] == list(range(1, len(DEMO_CLASSES) + 1))
    assert all(c.color and len(c.color) == 7 and c.color.startswith("#") for c in doc.classes)
    assert len({i.key for i in doc.images}) == N_IMAGES
    for record in doc.images:
        assert record.key.startswith("images/shelf_") and record.path == out / record.key
        with Image.open(record.path) as im:
            assert im.format == "JPEG" and im.size == (record.width, record.height) == SIZE
    names = {c.name for c in doc.classes}
    w, h = SIZE
    for key, anns in doc.annotations_by_image().items():
        masks = [_decode(a.rle) for a in anns]
        assert anns and all(a.rle["size"] == [h, w] and isinstance(a.rle["counts"], str) for a in anns)
        assert all(a.class_name in names and a.source == "manual" and not a.iscrowd for a in anns)
        assert min(m.sum() for m in masks) >= MIN_MASK_AREA, key
        assert np.sum(masks, axis=0).max() == 1, key


def test_splits_are_both_present(demo: tuple[Path, DatasetDoc]) -> None:
    _, doc = demo
    splits = [i.split for i in doc.images]
    assert set(splits) == {"train", "val"}
    assert splits.count("val") == round(N_IMAGES * 0.25)


BAD_ARGUMENTS = [
    ({"width": 100, "height": 80}, "at least"),  # too small for shelves with real products
    ({"val_fraction": 1.0}, "val_fraction"),  # nothing left to train on
    ({"n_images": 0}, "n_images"),  # an empty demo
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_ARGUMENTS, ids=["tiny", "all-val", "empty"])
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_demo(tmp_path, **{"n_images": 1, **kwargs})


# ---------------------------------------------------------------- class colours and unlabelled images


def test_class_colours_stand_out_on_the_products(scenes: list) -> None:
    """A mask drawn in its class colour must be visible on the product it covers (issue: box
    and jar masks were the products' own blue and orange): far from its own product's mean
    colour, and clearly away from every other product's."""
    from studio.colors import PALETTE, hex_to_rgb

    assert [c.color for c in DEMO_CLASSES] == list(PALETTE[:5])  # the rule for new classes, too
    means = {c.name: np.concatenate([img[m] for img, inst in scenes for n, m in inst if n == c.name])
             .astype(float).mean(axis=0) for c in DEMO_CLASSES}
    for c in DEMO_CLASSES:
        colour = np.array(hex_to_rgb(c.color), float)
        distances = {name: float(np.linalg.norm(colour - mean)) for name, mean in means.items()}
        assert distances[c.name] > 200, (c.name, distances)
        assert min(distances.values()) > 100, (c.name, distances)


@pytest.mark.parametrize("n_images, fraction, labelled", [
    (8, 0.5, 4),  # half: val images (2) and 2 of the 6 train images keep their masks
    (24, 0.5, 12),  # what `studio demo` loads: 12 of 24
    (4, 0.5, 2),  # small: 1 val + 1 train
    (4, 0.0, 1),  # none asked for: only the val image keeps its masks (so evaluation still works)
    (8, 1.0, 8),  # everything (the default)
])
def test_labelled_fraction_keeps_val_and_some_train_images(tmp_path: Path, n_images: int, fraction: float,
                                                           labelled: int) -> None:
    doc = generate_demo(tmp_path, n_images=n_images, seed=3, width=160, height=120, labelled_fraction=fraction)
    with_masks = {a.image_key for a in doc.annotations}
    assert len(doc.images) == n_images and len(with_masks) == labelled
    assert {i.key for i in doc.images if i.split == "val"} <= with_masks
    full = generate_demo(tmp_path / "full", n_images=n_images, seed=3, width=160, height=120)
    assert [(a.image_key, a.rle) for a in doc.annotations] == \
           [(a.image_key, a.rle) for a in full.annotations if a.image_key in with_masks]  # the same truth


def test_bad_labelled_fraction_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="labelled_fraction 1.5: expected 0 <= labelled_fraction <= 1"):
        generate_demo(tmp_path, n_images=2, labelled_fraction=1.5)


def test_load_demo_opens_with_half_the_images_to_label(studio_env: dict[str, str]) -> None:
    from studio.annotations import image_queue, queue_counts
    from studio.classes import class_summaries
    from studio.demo import load_demo

    report = load_demo(dataset="shelves", n_images=6, seed=0)
    counts = queue_counts(image_queue("shelves"))
    assert report.images_added == counts.total == 6
    assert (counts.done, counts.unlabelled) == (3, 3)
    assert [(c.name, c.color) for c in class_summaries(dataset="shelves")] == \
           [(c.name, c.color) for c in DEMO_CLASSES]
