"""Import and export through the database: bad input changes nothing; real files round-trip."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func
from sqlmodel import select

from studio.datasets import dataset_stats, list_datasets
from studio.db import session_scope
from studio.errors import Conflict, InvalidInput
from studio.masks import decode
from studio.tables import Annotation
from studio.tables import Image as ImageRow
from studio.transfer import export_dataset, import_dataset


def _row_counts() -> tuple[int, int]:
    with session_scope() as session:
        images = session.exec(select(func.count()).select_from(ImageRow)).one()
        annotations = session.exec(select(func.count()).select_from(Annotation)).one()
    return images, annotations


def _masks_by_file(dataset: str) -> dict[str, list[tuple[str, bytes]]]:
    """file name -> sorted (class, packed mask bytes) for every annotation of the dataset."""
    from studio.datasets import doc_from_dataset

    with session_scope() as session:
        doc = doc_from_dataset(session, dataset)
    out: dict[str, list[tuple[str, bytes]]] = {}
    for ann in doc.annotations:
        out.setdefault(Path(ann.image_key).name, []).append((ann.class_name, np.packbits(decode(ann.rle)).tobytes()))
    return {k: sorted(v) for k, v in out.items()}


# ---- folder import ----------------------------------------------------------------------

def test_folder_import_skips_and_lists_bad_files(studio_env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "good.jpg")
    Image.fromarray(pixels[::-1]).save(folder / "sub" / "good2.png")
    shutil.copy(folder / "good.jpg", folder / "same_as_good.jpg")  # duplicate by content
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "cut.jpg").write_bytes((folder / "good.jpg").read_bytes()[:300])
    (folder / "notes.txt").write_text("not an image")

    report = import_dataset(fmt="images", source=folder, dataset="photos")

    assert report.images_added == 2
    assert len(report.duplicates) == 1 and "same_as_good.jpg" in report.duplicates[0] + report.duplicates[0]
    skipped = "\n".join(report.skipped)
    for name in ("empty.jpg", "cut.jpg", "notes.txt"):
        assert name in skipped
    assert dataset_stats("photos").total_images == 2


# ---- annotated imports: refused whole, database unchanged ---------------------------------

def _coco_base(tmp_path: Path) -> dict:
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(images / "a.png")
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40}],
        "categories": [{"id": 3, "name": "can"}],
        "annotations": [{"id": 10, "image_id": 1, "category_id": 3, "iscrowd": 0,
                         "segmentation": [[5, 5, 30, 5, 30, 30, 5, 30]], "bbox": [5, 5, 25, 25], "area": 625}],
    }


COCO_BREAKERS: list[tuple[str, Callable[[dict], None], str]] = [
    ("unknown image id", lambda a: a.update(image_id=99), "99"),
    ("unknown category id", lambda a: a.update(category_id=42), "42"),
    ("polygon under 3 points", lambda a: a.update(segmentation=[[1, 1, 2, 2]]), "3"),
    ("RLE size disagrees with image", lambda a: a.update(
        segmentation={"size": [10, 10], "counts": [100]}), "size"),
]


@pytest.mark.parametrize(("case", "breaks", "named"), COCO_BREAKERS, ids=[c[0] for c in COCO_BREAKERS])
def test_bad_coco_is_refused_whole(studio_env: dict[str, str], tmp_path: Path,
                                   case: str, breaks: Callable[[dict], None], named: str) -> None:
    data = _coco_base(tmp_path)
    data["annotations"].append({**data["annotations"][0], "id": 11})  # a good one beside the bad one
    breaks(data["annotations"][0])
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    with pytest.raises(InvalidInput, match=named):
        import_dataset(fmt="coco", source=tmp_path / "annotations.json", dataset="d")
    assert _row_counts() == (0, 0) and list_datasets() == []


def test_malformed_json_is_refused(studio_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "annotations.json").write_text('{"images": [}')
    with pytest.raises(InvalidInput, match="JSON"):
        import_dataset(fmt="coco", source=tmp_path / "annotations.json", dataset="d")
    assert list_datasets() == []


def test_yolo_class_out_of_range_names_file_and_line(studio_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "images" / "train" / "x.jpg")
    (tmp_path / "data.yaml").write_text("path: .\ntrain: images/train\nnames: ['a', 'b']\n")
    (tmp_path / "labels" / "train" / "x.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n7 0.1 0.1 0.5 0.1 0.5 0.5\n")
    with pytest.raises(InvalidInput, match=r"x\.txt:2"):
        import_dataset(fmt="yolo", source=tmp_path, dataset="y")
    assert list_datasets() == []


def test_hostile_archive_is_refused(studio_env: dict[str, str], tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data/ok.jpg", b"x")
        zf.writestr("../../escape.txt", b"owned")
    with pytest.raises(InvalidInput, match="escape.txt"):
        import_dataset(fmt="images", source=archive, dataset="z")
    assert not (tmp_path.parent / "escape.txt").exists()


def test_export_over_existing_path_needs_force(studio_env: dict[str, str], tmp_path: Path) -> None:
    data = _coco_base(tmp_path)
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    import_dataset(fmt="coco", source=tmp_path / "annotations.json", dataset="d")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(Conflict):
        export_dataset(fmt="coco", dataset="d", out=out)
    assert (out / "keep.txt").read_text() == "mine"
    report = export_dataset(fmt="coco", dataset="d", out=out, force=True)
    assert report.annotations == 1 and (out / "annotations.json").exists()


# ---- round trips on real public files ------------------------------------------------------

def test_coco_val2017_round_trip_is_exact(studio_env: dict[str, str], shared_fixtures: Path, tmp_path: Path) -> None:
    """Polygons + crowd RLE -> database -> COCO (RLE) -> database: identical masks."""
    source = shared_fixtures / "labelbox_coco_val2017_instance_rle_panoptic" / "rle.json"
    first = import_dataset(fmt="coco", source=source, dataset="coco")
    assert first.images_added == 10 and first.annotations_added == 231
    report = export_dataset(fmt="coco", dataset="coco", out=tmp_path / "export", mode="rle")
    assert report.min_iou == 1.0 and report.checked == 231
    import_dataset(fmt="coco", source=tmp_path / "export", dataset="again")
    assert _masks_by_file("again") == _masks_by_file("coco")

    polygons = export_dataset(fmt="coco", dataset="coco", out=tmp_path / "poly", mode="polygon")
    assert polygons.min_iou >= 0.95


def test_voc_palette_masks_round_trip_is_pixel_exact(studio_env: dict[str, str], shared_fixtures: Path,
                                                     tmp_path: Path) -> None:
    """VOC palette PNGs with 255 borders -> database -> PNG masks: the same pixels, 255 kept."""
    root = shared_fixtures / "labelme_voc2011_semantic" / "data_dataset_voc"
    import_dataset(fmt="masks", source=root, dataset="voc")
    export_dataset(fmt="masks", dataset="voc", out=tmp_path / "export")
    originals = sorted((root / "SegmentationClass").glob("*.png"))
    assert originals
    saw_ignore = False
    for original in originals:
        exported = tmp_path / "export" / "masks" / original.name
        source_pixels = np.asarray(Image.open(original))
        saw_ignore |= bool((source_pixels == 255).any())
        assert np.array_equal(np.asarray(Image.open(exported)), source_pixels), original.name
    assert saw_ignore, "the fixture should exercise 255 = unlabelled"
    import_dataset(fmt="masks", source=tmp_path / "export", dataset="voc2")
    assert _masks_by_file("voc2") == _masks_by_file("voc")
