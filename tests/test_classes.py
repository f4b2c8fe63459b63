"""Classes of a dataset (studio/classes.py): every operation and refusal against the real
SQLite database, each write one transaction (a refusal or a failure leaves nothing behind)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from studio import classes as cls
from studio.colors import PALETTE
from studio.errors import InvalidInput, NotFound

# pycocotools' decode trips numpy 2's copy-keyword deprecation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture
def shelves(studio_env: dict[str, str], tmp_path: Path) -> str:
    """A 2-image demo dataset "shelves" (box, jar, bottle, can, tape, all used by annotations)
    and a dataset "voc" whose classes are background (index 0), cat (1) and dog (2), unused."""
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo
    from studio.formats.records import ClassRecord, DatasetDoc

    ingest_doc(generate_demo(tmp_path / "demo", n_images=2, seed=4, width=320, height=240), dataset="shelves")
    ingest_doc(DatasetDoc(classes=[ClassRecord("background", 0), ClassRecord("cat", 1), ClassRecord("dog", 2)]),
               dataset="voc")
    return "shelves"


def _names(dataset: str = "shelves") -> list[str]:
    return [c.name for c in cls.list_classes(dataset=dataset)]


def _usage(dataset: str = "shelves") -> dict[str, int]:
    return {s.name: s.annotations for s in cls.class_summaries(dataset=dataset)}


def _state(dataset: str = "shelves") -> list[tuple]:
    """Everything a class operation may touch: the classes and the class of every annotation."""
    from studio.db import session_scope
    from studio.tables import Annotation, LabelClass

    with session_scope() as session:
        rows = session.exec(select(LabelClass.id, LabelClass.name, LabelClass.index, LabelClass.color,
                                   LabelClass.position).order_by(LabelClass.id)).all()
        annotations = session.exec(select(Annotation.id, Annotation.class_id).order_by(Annotation.id)).all()
    return [tuple(r) for r in rows] + [tuple(a) for a in annotations]


def _foreign_id() -> int:
    return next(c.id for c in cls.list_classes(dataset="voc") if c.name == "cat")


# ---- list and add ----------------------------------------------------------------------

def test_list_is_in_display_order_with_usage(shelves: str) -> None:
    assert _names() == ["box", "jar", "bottle", "can", "tape"]
    summaries = cls.class_summaries(dataset=shelves)
    assert [s.index for s in summaries] == [1, 2, 3, 4, 5]
    assert [s.color for s in summaries] == list(PALETTE[:5])  # the demo's colours: the palette's first five
    assert all(s.annotations == s.accepted > 0 for s in summaries)  # the demo's masks are all accepted
    assert _names("voc") == ["background", "cat", "dog"]
    assert [c.name for c in cls.list_classes(dataset="voc", include_background=False)] == ["cat", "dog"]
    assert cls.class_summaries(dataset="voc")[0].is_background


def test_add_gives_next_index_position_and_unused_colour(shelves: str) -> None:
    cereal = cls.add_class(dataset=shelves, name=" cereal ")
    assert (cereal.name, cereal.index, cereal.color) == ("cereal", 6, PALETTE[5])  # first colour not in use
    assert cereal.id is not None and _names()[-1] == "cereal"
    soap, tea = cls.add_classes(dataset=shelves, names=["soap", "tea"])
    assert (soap.index, tea.index) == (7, 8) and (soap.color, tea.color) == (PALETTE[6], PALETTE[7])
    own = cls.add_class(dataset=shelves, name="rice", color="#ABCDEF")
    assert own.color == "#abcdef"  # the user's colour, normalised
    assert cls.add_class(dataset="voc", name="bird").index == 3


def test_an_index_a_version_used_is_never_given_again(shelves: str) -> None:
    from studio.datasets import snapshot

    cls.add_class(dataset=shelves, name="cereal")  # index 6
    snapshot(shelves, "with cereal")
    cls.remove_class(dataset=shelves, ref="cereal")
    assert cls.add_class(dataset=shelves, name="soap").index == 7  # v1 still calls 6 "cereal"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": "box"}, InvalidInput, "already has a class 'box'"),  # duplicate
    ({"name": " BOX "}, InvalidInput, "already has a class 'box'"),  # duplicate ignoring case and blanks
    ({"name": ""}, InvalidInput, "empty"),  # empty
    ({"name": "x" * 65}, InvalidInput, "at most 64"),  # over-long
    ({"name": "a\tb"}, InvalidInput, "control characters"),  # control character
    ({"name": "ok", "color": "red"}, InvalidInput, "expected '#rrggbb'"),  # a colour name
    ({"name": "ok", "color": "#12345"}, InvalidInput, "expected '#rrggbb'"),  # five digits
    ({"name": "ok", "color": "#gg0000"}, InvalidInput, "expected '#rrggbb'"),  # not hex
    ({"names": ["a", "b", "A"]}, InvalidInput, "'A' is given twice"),  # a repeat within one call
    ({"names": ["a", "box"]}, InvalidInput, "already has a class 'box'"),  # one bad name: none added
    ({"names": []}, InvalidInput, "no class names"),  # nothing to add
    ({"names": ["a", "b"], "color": "#ffffff"}, InvalidInput, "single name"),  # one colour, two classes
    ({"name": "ok", "dataset": "nope"}, NotFound, "no dataset named 'nope'"),  # unknown dataset
])
def test_bad_adds_are_refused_and_nothing_is_written(shelves: str, kwargs: dict, error: type,
                                                      message: str) -> None:
    before = _state()
    call = {"dataset": shelves, **kwargs}
    with pytest.raises(error, match=message):
        if "names" in call:
            cls.add_classes(**call)
        else:
            cls.add_class(**call)
    assert _state() == before


# ---- rename and recolour ---------------------------------------------------------------

def test_rename_keeps_index_colour_and_annotations(shelves: str) -> None:
    before = {s.name: s for s in cls.class_summaries(dataset=shelves)}
    renamed = cls.rename_class(dataset=shelves, ref="jar", new_name=" glass jar ")
    assert (renamed.name, renamed.index, renamed.color) == ("glass jar", 2, before["jar"].color)
    assert _usage()["glass jar"] == before["jar"].annotations
    assert cls.rename_class(dataset=shelves, ref="BOX", new_name="Box").name == "Box"  # case of itself
    by_id = cls.rename_class(dataset=shelves, ref=renamed.id, new_name="jar")  # by row id
    assert by_id.name == "jar" and _names() == ["Box", "jar", "bottle", "can", "tape"]


def test_recolor_overrides_the_palette(shelves: str) -> None:
    assert cls.recolor_class(dataset=shelves, ref="can", color="#FF00AA").color == "#ff00aa"
    assert next(c.color for c in cls.list_classes(dataset=shelves) if c.name == "can") == "#ff00aa"


@pytest.mark.parametrize("call, error, message", [
    (lambda: cls.rename_class(dataset="shelves", ref="jar", new_name="Bottle"), InvalidInput,
     "already has a class 'bottle'"),  # duplicate of another class, ignoring case
    (lambda: cls.rename_class(dataset="shelves", ref="jar", new_name=" "), InvalidInput, "empty"),  # empty
    (lambda: cls.rename_class(dataset="shelves", ref="jar", new_name="j" * 80), InvalidInput,
     "at most 64"),  # over-long
    (lambda: cls.rename_class(dataset="shelves", ref="jar", new_name="a\rb"), InvalidInput,
     "control characters"),  # control character
    (lambda: cls.rename_class(dataset="shelves", ref="cup", new_name="mug"), NotFound,
     "no class 'cup'; expected one of 'box', 'jar'"),  # unknown class, the choices named
    (lambda: cls.rename_class(dataset="shelves", ref=_foreign_id(), new_name="mug"), InvalidInput,
     "belongs to dataset 'voc', not 'shelves'"),  # a class of another dataset
    (lambda: cls.rename_class(dataset="shelves", ref=99999, new_name="mug"), NotFound,
     "no class with id 99999"),  # an id of no class
    (lambda: cls.recolor_class(dataset="shelves", ref="jar", color="orange"), InvalidInput,
     "expected '#rrggbb'"),  # not a hex colour
    (lambda: cls.recolor_class(dataset="shelves", ref="jar", color=""), InvalidInput,
     "expected '#rrggbb'"),  # empty colour
])
def test_bad_renames_and_recolours_are_refused(shelves: str, call, error: type, message: str) -> None:  # noqa: ANN001
    before = _state()
    with pytest.raises(error, match=message):
        call()
    assert _state() == before


# ---- reorder ---------------------------------------------------------------------------

def test_reorder_changes_the_display_order_not_the_index(shelves: str) -> None:
    ordered = cls.reorder_classes(dataset=shelves, order=["tape", "can", "box", "jar", "bottle"])
    assert [c.name for c in ordered] == ["tape", "can", "box", "jar", "bottle"]
    assert [c.index for c in ordered] == [5, 4, 1, 2, 3]  # the values in masks stay
    assert _names() == ["tape", "can", "box", "jar", "bottle"]
    cls.add_class(dataset=shelves, name="cereal")
    assert _names()[-1] == "cereal"  # new classes come last


@pytest.mark.parametrize("ref, step, expected", [
    ("can", -1, ["box", "jar", "can", "bottle", "tape"]),  # up one
    ("box", 1, ["jar", "box", "bottle", "can", "tape"]),  # down one
    ("box", -1, ["box", "jar", "bottle", "can", "tape"]),  # already first: stays
    ("tape", 3, ["box", "jar", "bottle", "can", "tape"]),  # already last: stays
    ("tape", -10, ["tape", "box", "jar", "bottle", "can"]),  # to the top
])
def test_move_up_and_down(shelves: str, ref: str, step: int, expected: list[str]) -> None:
    assert [c.name for c in cls.move_class(dataset=shelves, ref=ref, step=step)] == expected
    assert _names() == expected


def test_background_stays_first(shelves: str) -> None:
    assert [c.name for c in cls.reorder_classes(dataset="voc", order=["dog", "cat"])] == ["background", "dog", "cat"]
    assert _names("voc") == ["background", "dog", "cat"]


@pytest.mark.parametrize("dataset, order, error, message", [
    ("shelves", ["box", "jar", "bottle", "can"], InvalidInput, r"missing: \['tape'\]"),  # one left out
    ("shelves", ["box", "jar", "bottle", "can", "tape", "box"], InvalidInput,
     r"given twice: \['box'\]"),  # one twice
    ("shelves", ["box", "jar", "bottle", "can", "cup"], NotFound, "no class 'cup'"),  # unknown
    ("voc", ["background", "dog", "cat"], InvalidInput, "background .* cannot be reordered"),  # background
])
def test_bad_orders_are_refused(shelves: str, dataset: str, order: list[str], error: type, message: str) -> None:
    before = _state(dataset)
    with pytest.raises(error, match=message):
        cls.reorder_classes(dataset=dataset, order=order)
    assert _state(dataset) == before


# ---- merge and remove ------------------------------------------------------------------

def test_merge_relabels_every_annotation_and_deletes_the_source(shelves: str) -> None:
    before = _usage()
    report = cls.merge_classes(dataset=shelves, source="jar", target="box")
    assert report == cls.MergeReport(removed="jar", target="box", relabelled=before["jar"])
    after = _usage()
    assert "jar" not in after and after["box"] == before["box"] + before["jar"]
    assert sum(after.values()) == sum(before.values())  # no annotation lost
    assert next(c.index for c in cls.list_classes(dataset=shelves) if c.name == "box") == 1


def test_merge_is_one_transaction(shelves: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after the annotations were re-labelled (deleting the source) undoes the re-labelling."""
    before = _state()

    def fail(session, label) -> None:  # noqa: ANN001
        raise RuntimeError("disk full")

    monkeypatch.setattr(cls, "_delete_class", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        cls.merge_classes(dataset=shelves, source="jar", target="box")
    assert _state() == before


def test_remove_an_unused_class(shelves: str) -> None:
    cls.add_class(dataset=shelves, name="cereal")
    assert cls.remove_class(dataset=shelves, ref="cereal") == cls.MergeReport("cereal", None, 0)
    assert "cereal" not in _names()
    assert cls.remove_class(dataset="voc", ref="dog").removed == "dog"


def test_remove_a_used_class_with_reassignment(shelves: str) -> None:
    before = _usage()
    report = cls.remove_class(dataset=shelves, ref="tape", reassign_to="can")
    assert report == cls.MergeReport("tape", "can", before["tape"])
    assert _usage()["can"] == before["can"] + before["tape"]


@pytest.mark.parametrize("call, message", [
    (lambda: cls.merge_classes(dataset="shelves", source="jar", target="Jar"),
     "cannot merge class 'jar' into itself"),  # into itself (same class, other case)
    (lambda: cls.merge_classes(dataset="shelves", source="jar", target=_foreign_id()),
     "belongs to dataset 'voc'"),  # target of another dataset
    (lambda: cls.merge_classes(dataset="voc", source="background", target="cat"),
     "background .* cannot be merged"),  # background as source
    (lambda: cls.merge_classes(dataset="voc", source="cat", target="background"),
     "background .* cannot take the annotations"),  # background as target
    (lambda: cls.remove_class(dataset="shelves", ref="jar"),
     r"'jar' is used by \d+ annotations \(\d+ accepted\); reassign them .*--reassign-to"),  # in use
    (lambda: cls.remove_class(dataset="shelves", ref="jar", reassign_to="jar"),
     "to itself"),  # reassigned to itself
    (lambda: cls.remove_class(dataset="voc", ref="background"),
     "background .* cannot be removed"),  # background
    (lambda: cls.remove_class(dataset="voc", ref="cat", reassign_to="background"),
     "background .* cannot take the annotations"),  # reassigned to the background
])
def test_bad_merges_and_removes_are_refused(shelves: str, call, message: str) -> None:  # noqa: ANN001
    before = _state("shelves"), _state("voc")
    with pytest.raises(InvalidInput, match=message):
        call()
    assert (_state("shelves"), _state("voc")) == before


def test_merge_of_an_unknown_class_names_the_choices(shelves: str) -> None:
    with pytest.raises(NotFound, match="has no class 'cup'; expected one of 'box', 'jar', 'bottle', 'can', 'tape'"):
        cls.merge_classes(dataset=shelves, source="cup", target="box")


# ---- ensure and parse (imports with --classes) -----------------------------------------

def test_ensure_adds_only_the_missing_ones(shelves: str) -> None:
    added = cls.ensure_classes(dataset=shelves, names=["Box", "cereal", " soap ", "CEREAL"])
    assert [(c.name, c.index) for c in added] == [("cereal", 6), ("soap", 7)]
    assert cls.ensure_classes(dataset=shelves, names=["cereal", "box"]) == []  # all there: nothing added
    assert _names()[-2:] == ["cereal", "soap"]


def test_ensure_is_all_or_nothing(shelves: str) -> None:
    before = _state()
    with pytest.raises(InvalidInput, match="control characters"):
        cls.ensure_classes(dataset=shelves, names=["cereal", "bad\x07name"])
    assert _state() == before


def test_every_demo_class_colour_is_used_once(shelves: str) -> None:
    colours = Counter(c.color for c in cls.list_classes(dataset=shelves))
    assert max(colours.values()) == 1
