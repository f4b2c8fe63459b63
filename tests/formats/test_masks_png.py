"""studio.formats.masks_png: VOC-style semantic PNGs; 0 vs 255 kept exactly; bad input named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio import masks
from studio.errors import Conflict, InvalidInput
from studio.formats.masks_png import load_masks, save_masks
from studio.formats.records import AnnotationRecord, ClassRecord, DatasetDoc, ImageRecord

H, W = 12, 16


def _write(root: Path, label_map: np.ndarray, classes: str | list | None = "bg\ncat\ndog\n",
           mode: str = "P", image_size: tuple[int, int] = (W, H), mask_dir: str = "SegmentationClass",
           image_dir: str = "JPEGImages") -> Path:
    """A one-image dataset: JPEGImages/a.jpg + <mask_dir>/a.png (+ class file)."""
    (root / image_dir).mkdir(parents=True, exist_ok=True)
    (root / mask_dir).mkdir(parents=True, exist_ok=True)
    Image.new("RGB", image_size).save(root / image_dir / "a.jpg")
    png = Image.fromarray(label_map.astype(np.uint8))
    if mode == "P":
        palette = [0] * 768
        palette[3:6] = [200, 10, 20]  # index 1 colour
        png.putpalette(palette)
    elif mode != "L":
        png = png.convert(mode)
    png.save(root / mask_dir / "a.png")
    if isinstance(classes, str):
        (root / "class_names.txt").write_text(classes)
    elif classes is not None:
        (root / "classes.json").write_text(json.dumps(classes))
    return root


def _label_map() -> np.ndarray:
    label_map = np.zeros((H, W), np.uint8)
    label_map[2:6, 3:9] = 1
    label_map[8:11, 10:15] = 2
    label_map[0, :] = 255  # unlabelled border
    return label_map


@pytest.mark.parametrize(
    "mode, classes, mask_dir",
    [
        ("P", "bg\ncat\ndog\n", "SegmentationClass"),  # VOC palette PNG + class_names.txt
        ("L", "bg\ncat\ndog\n", "SegmentationClassPNG"),  # grayscale PNG, labelme folder name
        ("P", "__ignore__\nbg\ncat\ndog\n", "masks"),  # labelme labels.txt style first line skipped
        ("L", [{"name": "bg", "index": 0, "color": "#000000"}, {"name": "cat", "index": 1, "color": "#00ff00"},
               {"name": "dog", "index": 2, "color": None}], "masks"),  # classes.json
    ],
)
def test_load_masks_one_annotation_per_value(tmp_path: Path, mode: str, classes: object, mask_dir: str) -> None:
    root = _write(tmp_path / "ds", _label_map(), classes, mode=mode, mask_dir=mask_dir)
    doc = load_masks(root)
    assert [(c.name, c.index) for c in doc.classes] == [("bg", 0), ("cat", 1), ("dog", 2)]
    assert [(i.key, i.width, i.height) for i in doc.images] == [("a.jpg", W, H)]
    assert [a.class_name for a in doc.annotations] == ["bg", "cat", "dog"]  # 0 kept: the file names it
    assert all(not a.iscrowd for a in doc.annotations)
    for ann, value in zip(doc.annotations, (0, 1, 2)):
        np.testing.assert_array_equal(masks.decode(ann.rle), (_label_map() == value).astype(np.uint8))
    cat = doc.classes[1]
    if isinstance(classes, list):
        assert cat.color == "#00ff00"  # from classes.json
    elif mode == "P":
        assert cat.color == "#c80a14"  # from the PNG palette


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"classes": "bg\ncat\n"}, "pixel value(s) [2] name no class"),  # value 2 not in the classes file
        ({"image_size": (W + 1, H)}, f"mask is {W}x{H} but its image a.jpg is {W + 1}x{H}"),  # size mismatch
        ({"mode": "RGB"}, "expected an 8-bit palette (P) or grayscale (L) PNG, found mode RGB"),  # colour PNG
        ({"classes": None}, "expected a classes file"),  # no class_names.txt / classes.json
        ({"classes": "bg\n\ncat\ndog"}, "one unique, non-empty class name per line"),  # blank line in the middle
        ({"classes": [{"name": "bg"}]}, "expected {'name': str, 'index': int}"),  # classes.json entry incomplete
        ({"mask_dir": "Labels"}, "expected the masks folder"),  # unknown folder layout
    ],
)
def test_load_masks_bad_input(tmp_path: Path, kwargs: dict, message: str) -> None:
    root = _write(tmp_path / "ds", _label_map(), **kwargs)
    with pytest.raises(InvalidInput) as info:
        load_masks(root)
    assert message in str(info.value)
    if "pixel value" in message:
        assert "a.png" in str(info.value)


def test_load_masks_refuses_masks_without_images(tmp_path: Path) -> None:
    root = _write(tmp_path / "ds", _label_map())
    shutil.copy(root / "SegmentationClass" / "a.png", root / "SegmentationClass" / "orphan.png")
    with pytest.raises(InvalidInput, match=r"have no image.*orphan\.png"):
        load_masks(root)


def _doc(tmp_path: Path, background: bool) -> DatasetDoc:
    """Big box with a small box on top of it (small annotation listed first)."""
    path = tmp_path / "src" / "p.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (W, H)).save(path)
    big, small = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    big[1:11, 1:15] = 1
    small[4:6, 4:6] = 1
    classes = [ClassRecord("cat", 1, "#ff0000"), ClassRecord("dog", 2)]
    annotations = [AnnotationRecord("p.jpg", "dog", masks.encode(small)),
                   AnnotationRecord("p.jpg", "cat", masks.encode(big))]
    if background:
        classes.insert(0, ClassRecord("background", 0))
        annotations.append(AnnotationRecord("p.jpg", "background", masks.encode(1 - big)))
    return DatasetDoc(classes, [ImageRecord("p.jpg", path, W, H)], annotations)


@pytest.mark.parametrize(
    "background, fill",
    [
        (False, 0),  # no explicit background class: unpainted pixels are 0
        (True, 255),  # explicit background (index 0): unpainted pixels are 255 (unlabelled)
    ],
)
def test_save_masks_paints_small_objects_on_top(tmp_path: Path, background: bool, fill: int) -> None:
    doc = _doc(tmp_path, background)
    if background:  # leave one pixel unlabelled
        doc.annotations[-1] = AnnotationRecord("p.jpg", "background", masks.encode(
            np.pad(np.zeros((H - 2, W - 2), np.uint8), 1, constant_values=1) * (np.arange(W) > 0)))
    report = save_masks(doc, tmp_path / "out")
    assert (report.images, report.annotations, report.checked, report.min_iou) == (1, len(doc.annotations), len(doc.annotations), 1.0)
    with Image.open(tmp_path / "out" / "masks" / "p.png") as png:
        assert png.mode == "P"
        label_map = np.asarray(png)
        palette = png.getpalette()
    assert label_map[5, 5] == 2 and label_map[2, 2] == 1  # small dog on top of the big cat
    assert label_map[5, 0] == fill
    assert palette[3:6] == [255, 0, 0] and palette[765:768] == [255, 255, 255]
    classes = json.loads((tmp_path / "out" / "classes.json").read_text())
    assert [c["index"] for c in classes] == ([0, 1, 2] if background else [1, 2])
    assert (tmp_path / "out" / "images" / "p.jpg").is_file()


def test_save_masks_rejects_class_index_over_254(tmp_path: Path) -> None:
    doc = _doc(tmp_path, False)
    doc.classes.append(ClassRecord("too-far", 255))
    with pytest.raises(InvalidInput, match="index 255; PNG masks hold 0..254"):
        save_masks(doc, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_save_masks_refuses_existing_output_unless_forced(tmp_path: Path) -> None:
    doc = _doc(tmp_path, False)
    (tmp_path / "out").mkdir()
    with pytest.raises(Conflict):
        save_masks(doc, tmp_path / "out")
    save_masks(doc, tmp_path / "out", force=True)
    assert (tmp_path / "out" / "masks" / "p.png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_failed_save_masks_leaves_no_temp_files(tmp_path: Path) -> None:
    doc = _doc(tmp_path, False)
    doc.annotations[0].rle = masks.encode(np.zeros((H + 1, W), np.uint8))  # wrong size, found while painting
    with pytest.raises(InvalidInput, match="disagrees with the image"):
        save_masks(doc, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


@pytest.mark.parametrize(
    "folder, mask_dir",
    [
        (".", "SegmentationClass"),  # VOC 2011 photos, 255 borders
        ("../video_voc/data_dataset_voc", "SegmentationClassPNG"),  # labelme video frames
    ],
)
def test_real_voc_round_trip_is_pixel_identical(voc_sample: Path, tmp_path: Path, folder: str, mask_dir: str) -> None:
    root = (voc_sample / folder).resolve()
    doc = load_masks(root)
    assert doc.classes[0].name == "_background_" and doc.classes[0].index == 0
    save_masks(doc, tmp_path / "out")
    sources = sorted((root / mask_dir).glob("*.png"))
    assert sources
    saw_ignore = False
    for source in sources:
        want = np.asarray(Image.open(source))
        got = np.asarray(Image.open(tmp_path / "out" / "masks" / source.name))
        np.testing.assert_array_equal(got, want)
        saw_ignore |= bool((want == 255).any())
    assert saw_ignore == (mask_dir == "SegmentationClass")  # VOC borders (255) preserved
    again = load_masks(tmp_path / "out")
    assert [(a.image_key, a.class_name, a.rle) for a in again.annotations] == [
        (a.image_key, a.class_name, a.rle) for a in doc.annotations]
