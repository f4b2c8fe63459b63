"""Active learning (studio.active, job "rank"): uncertainty scores, the stored order the Label
page's "next to do" follows, pre-labelling the top K, refusals. The simulation that shows the
order pays is tests/test_active_learning.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from studio.active import disagreement, uncertainty
from studio.errors import InvalidInput, StudioError
from tests.test_inference import DEMO_SIZE, classifier_version, unet_version, yolo_version

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

UNIFORM = np.full((4, 3, 3), 0.25)
CERTAIN = np.eye(4)[:, :1].repeat(9, 1).reshape(4, 3, 3)


@pytest.mark.parametrize(("probs", "method", "expected"), [
    (UNIFORM, "entropy", 1.0),  # every class equally likely: the most unsure
    (CERTAIN, "entropy", 0.0),
    (UNIFORM, "margin", 1.0),  # the two best tie
    (CERTAIN, "margin", 0.0),
    (np.array([0.5, 0.5, 0.0]), "margin", 1.0),  # a class distribution (classifier)
    (np.array([0.7, 0.2, 0.1]), "margin", 0.5),
    (np.array([[0.9, 0.5], [0.1, 0.5]]), "entropy", (0.4690 + 1.0) / 2),  # two objects, mean
])
def test_uncertainty(probs: np.ndarray, method: str, expected: float) -> None:
    assert uncertainty(probs, method) == pytest.approx(expected, abs=1e-4)


def test_disagreement_and_bad_input() -> None:
    assert disagreement(UNIFORM, UNIFORM) == 0.0
    assert disagreement(CERTAIN, np.roll(CERTAIN, 1, axis=0)) == pytest.approx(1.0)
    with pytest.raises(InvalidInput, match="expected entropy or margin"):
        uncertainty(UNIFORM, "disagreement")
    with pytest.raises(InvalidInput, match=r"expected \(C,\), \(C, H, W\) or \(C, N\) with C >= 2"):
        uncertainty(np.ones((1, 3)), "entropy")
    with pytest.raises(InvalidInput, match="differ in shape"):
        disagreement(UNIFORM, np.full((4, 2, 2), 0.25))


@pytest.fixture(scope="module")
def setup(module_studio: Path) -> dict[str, Any]:
    from studio.datasets import ingest_doc, snapshot
    from studio.demo import generate_demo

    doc = generate_demo(module_studio / "demo", n_images=8, seed=3, width=DEMO_SIZE[0], height=DEMO_SIZE[1],
                        labelled_fraction=0.4)
    ingest_doc(doc, dataset="shelves")
    dv = int(snapshot("shelves").id)  # type: ignore[arg-type]
    return {"root": module_studio, "doc": doc, "a": unet_version(module_studio, dv, seed=0),
            "b": unet_version(module_studio, dv, seed=1), "dv": dv}


def _todo_ids() -> list[int]:
    from studio.annotations import image_queue

    return [i.id for i in image_queue("shelves", ("unlabelled", "draft"))]


def test_rank_job_orders_the_unlabelled_images_most_uncertain_first(setup: dict[str, Any]) -> None:
    from studio.active import latest_ranking, ranked_scores, ranked_todo
    from studio.jobs import run_here
    from studio.jobs.kinds import RankSpec

    todo = _todo_ids()
    assert 0 < len(todo) < 8  # some labelled, some not
    logged: list[str] = []
    report = run_here(RankSpec(dataset="shelves", model=setup["a"].name), log=logged.append)
    assert report.ranked == len(todo) and report.method == "entropy" and report.model == setup["a"].name
    scores = ranked_scores("shelves")
    assert sorted(i for i, _ in scores) == sorted(todo)  # only images still to label
    assert [s for _, s in scores] == sorted((s for _, s in scores), reverse=True)  # most uncertain first
    assert all(0.0 <= s <= 1.0 for _, s in scores)
    assert ranked_todo("shelves")[:len(todo)] == [i for i, _ in scores]
    assert latest_ranking("shelves").id == report.ranking_id
    assert logged and logged[0].startswith(f"ranking {report.ranking_id}: {len(todo)} images of shelves by entropy")


def test_ranked_todo_drops_labelled_images_and_appends_new_ones(setup: dict[str, Any]) -> None:
    from studio.active import next_ranked, ranked_scores, ranked_todo
    from studio.jobs import run_here
    from studio.jobs.kinds import RankSpec
    from studio.annotations import add_annotation
    from studio.classes import list_classes

    run_here(RankSpec(dataset="shelves", model=setup["a"].name, method="margin"))
    order = ranked_todo("shelves")
    first = order[0]
    box = next(c for c in list_classes(dataset="shelves") if c.name == "box")
    mask = np.zeros(DEMO_SIZE[::-1], bool)
    mask[10:30, 10:30] = True
    add_annotation(image_id=first, class_id=box.id, mask=mask, source="manual")  # labelled now: off the list
    assert ranked_todo("shelves") == order[1:]
    assert next_ranked("shelves", None) == order[1] and next_ranked("shelves", order[1]) == order[2]
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    more = generate_demo(setup["root"] / "more", n_images=1, seed=99, width=DEMO_SIZE[0], height=DEMO_SIZE[1],
                         labelled_fraction=0.0)
    more.annotations.clear()
    more.images[0].split = "train"
    ingest_doc(more, dataset="shelves")
    new = max(_todo_ids())
    assert new not in dict(ranked_scores("shelves")) and ranked_todo("shelves")[-1] == new  # not ranked yet: last


def test_disagreement_of_two_versions_and_prelabel_top(setup: dict[str, Any]) -> None:
    from studio.active import prelabel_top, ranked_todo
    from studio.jobs import run_here
    from studio.jobs.kinds import RankSpec
    from studio.annotations import list_annotations

    report = run_here(RankSpec(dataset="shelves", model=setup["a"].name, method="disagreement",
                               other_model=setup["b"].name, prelabel_top=2, min_score=0.0))
    assert report.other_model == setup["b"].name and all(0 <= s <= 1 for _, s in report.top)
    top = ranked_todo("shelves", ("unlabelled", "draft"))
    drafted = {i for i in _todo_ids() if any(a.status == "draft" for a in list_annotations(i))}
    assert report.prelabelled == len(drafted) and drafted <= set(top[:2])
    again = prelabel_top("shelves", 1, min_score=0.0)
    assert again.images == 1 and again.model == setup["a"].name  # the ranking's version by default


def test_classifier_and_instance_models_rank_too(setup: dict[str, Any]) -> None:
    from studio.active import rank_dataset

    classifier = classifier_version(setup["root"], setup["dv"])
    report = rank_dataset(classifier.name, "shelves")  # crops of the draft objects, else the whole image
    assert report.ranked == len(_todo_ids()) and all(0 <= s <= 1 for _, s in report.top)
    yolo = yolo_version(setup["root"], setup["dv"])
    assert rank_dataset(yolo.name, "shelves", method="margin", limit=2).ranked == 2


@pytest.mark.parametrize(("kwargs", "message"), [
    # a version of other classes than the dataset's
    ({"model": "other"}, r"have different classes: only the dataset has \['bottle', 'can', 'jar', 'tape'\]"),
    # disagreement needs a second version; entropy takes none
    ({"method": "disagreement"}, "disagreement takes a second model version"),
    ({"other_model": "b"}, "disagreement takes a second model version"),
    ({"limit": 0}, "expected at least 1 image"),
    ({"dataset": "nope"}, "no dataset named 'nope'"),
])
def test_refusals(setup: dict[str, Any], kwargs: dict[str, Any], message: str) -> None:
    from studio.jobs import run_here
    from studio.jobs.kinds import RankSpec

    other = unet_version(setup["root"], setup["dv"], classes=[{"name": "box", "index": 1, "color": None}])
    names = {"other": other.name, "b": setup["b"].name}
    fields = {"dataset": "shelves", "model": setup["a"].name,
              **{k: names.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}}
    with pytest.raises(StudioError, match=message):
        run_here(RankSpec(**fields))


def test_cli_rank_and_todo(setup: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from studio.cli import app

    runner = CliRunner()
    ranked = runner.invoke(app, ["rank", "shelves", setup["a"].name, "--here"])
    assert ranked.exit_code == 0, ranked.output
    assert f"images of shelves by {setup['a'].name}'s entropy, most uncertain first:" in ranked.stdout
    listed = runner.invoke(app, ["todo", "shelves", "--top", "3"])
    assert listed.exit_code == 0 and listed.stdout.startswith("ranking ") and "images/shelf_" in listed.stdout
