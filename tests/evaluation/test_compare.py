"""studio.evaluation.compare: two real versions on one real dataset version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_inference import (
    classifier_version,
    make_dataset,
    unet_version,
)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def setup(module_studio: Path) -> dict[str, Any]:
    dv = make_dataset(module_studio, n_images=6)
    return {"dv": dv, "root": module_studio, "a": unet_version(module_studio, dv, seed=0),
            "b": unet_version(module_studio, dv, seed=1)}


def test_a_version_compared_with_itself_changes_nothing(setup: dict[str, Any]) -> None:
    from studio.evaluation.compare import compare_versions

    comparison = compare_versions(setup["a"].name, setup["a"].name)
    assert comparison.evaluation_a == comparison.evaluation_b  # evaluated once, reused
    assert comparison.metrics and all(m.delta == 0 and not m.improved and not m.regressed
                                      for m in comparison.metrics if m.metric != "ms_per_image")
    assert all(c.delta in (0.0, None) for c in comparison.classes)
    assert len(comparison.images) == 2 and all(i.disagreement == 0.0 for i in comparison.images)
    codes = comparison.disagreement_map(comparison.images[0].file_name)
    assert codes.shape == (128, 160) and not codes.any()


def test_two_versions_deltas_ranking_and_disagreement_map(setup: dict[str, Any]) -> None:
    from studio.evaluation.compare import compare_versions
    from studio.evaluation.views import get_evaluation

    comparison = compare_versions(setup["a"].id, setup["b"].id, setup["dv"], "val")
    view_a, view_b = get_evaluation(comparison.evaluation_a), get_evaluation(comparison.evaluation_b)
    miou = next(m for m in comparison.metrics if m.metric == "miou")
    assert miou.a == view_a.summary["miou"] and miou.b == view_b.summary["miou"]
    assert miou.delta == pytest.approx(miou.b - miou.a) and miou.higher_is_better
    assert miou.improved == (miou.delta > 0) and miou.regressed == (miou.delta < 0)
    assert not next(m for m in comparison.metrics if m.metric == "ms_per_image").higher_is_better
    assert [c.name for c in comparison.classes] == ["background", "box", "jar", "bottle", "can", "tape"]
    for c, ra, rb in zip(comparison.classes, view_a.class_rows, view_b.class_rows):
        assert (c.a, c.b) == (ra["iou"], rb["iou"])
    shares = [i.disagreement for i in comparison.images]
    assert shares == sorted(shares, reverse=True) and shares[0] > 0  # two random nets disagree somewhere
    for entry in comparison.images:
        pred_a, pred_b, gt = comparison.predictions(entry.version_image_id)
        codes = comparison.disagreement_map(entry.version_image_id)
        assert (codes > 0).mean() == pytest.approx(entry.disagreement)
        assert np.array_equal(codes == 0, pred_a == pred_b)
        assert np.all(pred_a[codes == 1] == gt[codes == 1]) and np.all(pred_b[codes == 2] == gt[codes == 2])
        both = codes == 3
        assert np.all((pred_a[both] != gt[both]) & (pred_b[both] != gt[both]))
    rows = comparison.metric_rows()
    assert {"metric", "a", "b", "delta", "improved", "regressed"} <= set(rows[0])


def test_incomparable_versions_are_refused_naming_the_difference(setup: dict[str, Any]) -> None:
    from studio.errors import InvalidInput
    from studio.evaluation.compare import compare_versions

    classifier = classifier_version(setup["root"], setup["dv"])
    with pytest.raises(InvalidInput, match=r"\(semantic\) with .* \(classification\): expected two models of the same task"):
        compare_versions(setup["a"].id, classifier.id)
    fewer = unet_version(setup["root"], setup["dv"], classes=[{"name": "box", "index": 1, "color": None},
                                                              {"name": "crate", "index": 2, "color": None}])
    with pytest.raises(InvalidInput, match=r"only .* has \['bottle', 'can', 'jar', 'tape'\]; only .* has \['crate'\]"):
        compare_versions(setup["a"].id, fewer.id)


def test_metric_directions_and_send_to_review(setup: dict[str, Any]) -> None:
    from studio.db import session_scope
    from studio.errors import InvalidInput
    from studio.evaluation.compare import compare_versions, metric_deltas, send_to_review
    from studio.tables import Image

    rows = {r.metric: r for r in metric_deltas({"miou": 0.5, "ms_per_image": 10.0, "val_loss": 1.0},
                                               {"miou": 0.6, "ms_per_image": 12.0, "val_loss": 0.5})}
    assert rows["miou"].improved and rows["ms_per_image"].regressed and rows["val_loss"].improved
    comparison = compare_versions(setup["a"].id, setup["b"].id)
    ids = [i.image_id for i in comparison.images[:1]]
    assert send_to_review(ids, "models disagree here") == 1
    with session_scope() as session:
        image = session.get(Image, ids[0])
        assert image.review_requested and image.review_note == "models disagree here"
    with pytest.raises(InvalidInput, match="at least one image id"):
        send_to_review([])


def test_cli_compare_and_evaluate_now(setup: dict[str, Any]) -> None:
    import json

    from typer.testing import CliRunner

    from studio.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["compare", setup["a"].name, str(setup["b"].id), "--json", "--top", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{"):])
    assert data["a"] == setup["a"].name and len(data["images"]) == 1 and data["metrics"][0]["metric"] == "miou"
    result = runner.invoke(app, ["evaluate", setup["a"].name, "--here", "--split", "train"])
    assert result.exit_code == 0 and "miou" in result.stdout, result.output
    assert setup["a"].name in runner.invoke(app, ["evaluations", setup["a"].name]).stdout
    for command in (["export", "onnx", "--help"], ["export", "torchscript", "--help"], ["bench", "--help"],
                    ["prelabel", "--help"]):
        assert runner.invoke(app, command).exit_code == 0
