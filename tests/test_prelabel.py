"""studio.prelabel: a real model's predictions become drafts; re-running replaces them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlmodel import select

from tests.test_inference import DEMO_SIZE, unet_version, yolo_version

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _import(root: Path, name: str, classes: list[str] | None = None, annotated: bool = False) -> None:
    """Demo images as dataset ``name``: with their annotations (accepted) or none, and the
    demo classes (or only ``classes``)."""
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    doc = generate_demo(root / f"demo-{name}", n_images=4, seed=5, width=DEMO_SIZE[0], height=DEMO_SIZE[1])
    if classes is not None:
        doc.classes = [c for c in doc.classes if c.name in classes]
    if not annotated:
        doc.annotations = []
    ingest_doc(doc, dataset=name)


@pytest.fixture(scope="module")
def setup(module_studio: Path) -> dict[str, Any]:
    _import(module_studio, "plain")
    _import(module_studio, "labelled", annotated=True)
    _import(module_studio, "boxes-only", classes=["box"])
    return {"root": module_studio, "unet": unet_version(module_studio)}


def _drafts(dataset: str, source: str | None = None) -> list[Any]:
    from studio.db import session_scope
    from studio.tables import Annotation, Dataset, Image

    with session_scope() as session:
        query = select(Annotation).join(Image).join(Dataset).where(Dataset.name == dataset,
                                                                   Annotation.status == "draft")
        if source:
            query = query.where(Annotation.source == source)
        return list(session.exec(query.order_by(Annotation.id)).all())


def test_drafts_are_written_and_rerunning_replaces_them(setup: dict[str, Any]) -> None:
    from studio import masks
    from studio.annotations import add_annotation
    from studio.classes import list_classes
    from studio.db import session_scope
    from studio.prelabel import prelabel
    from studio.tables import Annotation, Image

    unet = setup["unet"]
    source = f"model:{unet.name}"
    with session_scope() as session:
        first_image = session.exec(select(Image).order_by(Image.id)).first()
    box = next(c for c in list_classes(dataset="plain") if c.name == "box")
    manual = np.zeros((DEMO_SIZE[1], DEMO_SIZE[0]), bool)
    manual[10:30, 10:40] = True
    add_annotation(image_id=first_image.id, class_id=box.id, mask=manual, source="manual", status="draft")

    first = prelabel(unet.name, "plain", min_score=0.0)
    drafts = _drafts("plain", source)
    assert first.source == source and first.images == 4 and first.skipped == 0 and first.replaced == 0
    assert first.annotations == len(drafts) > 0 and sum(first.per_class.values()) == first.annotations
    names = {c.id: c.name for c in list_classes(dataset="plain")}
    for d in drafts:
        assert d.status == "draft" and d.source == source and 0.0 <= d.score <= 1.0
        assert d.area == masks.area(d.rle) >= 16 and names[d.class_id] in first.per_class

    again = prelabel(unet.id, "plain", min_score=0.0)
    assert again.annotations == first.annotations and again.replaced == first.annotations
    assert len(_drafts("plain", source)) == first.annotations  # replaced, not added
    assert len(_drafts("plain", "manual")) == 1  # another source's draft is never touched

    kept = prelabel(unet.id, "plain", min_score=0.0, replace_drafts=False, split="val")
    assert len(_drafts("plain", source)) == first.annotations + kept.annotations
    strict = prelabel(unet.id, "plain", min_score=1.0)  # nothing reaches a score of 1: drafts are cleared
    assert strict.annotations == 0 and not _drafts("plain", source)
    with session_scope() as session:
        assert session.exec(select(Annotation).where(Annotation.source == "manual")).first() is not None


def test_labelled_images_are_skipped_unless_asked(setup: dict[str, Any]) -> None:
    from studio.prelabel import prelabel

    report = prelabel(setup["unet"].id, "labelled", min_score=0.0)
    assert report.skipped == report.images == 4 and report.annotations == 0 and not _drafts("labelled")
    report = prelabel(setup["unet"].id, "labelled", min_score=0.0, include_labelled=True, split="val")
    assert report.skipped == 0 and report.annotations == len(_drafts("labelled")) > 0


def test_instance_model_prelabels_one_draft_per_object(setup: dict[str, Any]) -> None:
    from studio.prelabel import prelabel

    yolo = yolo_version(setup["root"])
    report = prelabel(yolo.id, "plain", min_score=0.001, split="val")
    drafts = _drafts("plain", f"model:{yolo.name}")
    assert report.annotations == len(drafts) and all(d.score >= 0.001 for d in drafts)


def test_refusals_name_what_is_missing(setup: dict[str, Any]) -> None:
    from studio.errors import InvalidInput, NotFound
    from studio.prelabel import prelabel
    from tests.test_inference import classifier_version

    with pytest.raises(InvalidInput, match=r"the dataset has no classes \['jar', 'bottle', 'can', 'tape'\]"):
        prelabel(setup["unet"].id, "boxes-only")
    with pytest.raises(InvalidInput, match="pre-labelling needs a segmentation model"):
        prelabel(classifier_version(setup["root"]).id, "plain")
    with pytest.raises(NotFound):
        prelabel(setup["unet"].id, "no-such-dataset")
    assert not _drafts("boxes-only")
