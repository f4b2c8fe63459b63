"""The HTML evaluation report: one self-contained file (no http(s) reference, no script, plots
and images as data URIs that decode), for a segmentation and a classification evaluation; the CLI."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

from tests.test_inference import classifier_version, make_dataset, unet_version

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def setup(module_studio: Path) -> dict[str, Any]:
    from studio.evaluation.run import evaluate_version

    dv = make_dataset(module_studio, n_images=4)
    unet, classifier = unet_version(module_studio, dv), classifier_version(module_studio, dv)
    (module_studio / "log.csv").write_text("epoch,train_loss,val_loss,miou,lr,seconds\n1,2.5,1274.0,0.1,0.001,1\n"
                                           "2,1.2,0.9,0.3,0.001,1\n")
    from studio.registry import add_file, model_dir

    log = model_dir(unet) / "training_log.csv"
    log.write_text((module_studio / "log.csv").read_text())
    return {"unet": unet, "classifier": classifier, "semantic": evaluate_version(unet.id),
            "classification": evaluate_version(classifier.id), "dv": dv, "log": add_file(unet.id, "training_log", log)}


def _check_self_contained(text: str) -> list[bytes]:
    """Assert the page needs nothing from elsewhere; the decoded data-URI images."""
    assert not re.search(r"https?:", text, re.IGNORECASE)  # no link, no CDN, no font, no namespace URL
    assert "<script" not in text.lower() and "<link" not in text.lower() and "@import" not in text
    sources = re.findall(r"src='([^']*)'", text)
    assert sources and all(s.startswith("data:image/") for s in sources)
    images = [base64.b64decode(s.split(",", 1)[1], validate=True) for s in sources]
    assert all(i.startswith(b"\x89PNG") or i.startswith(b"\xff\xd8") for i in images)
    return images


def test_semantic_report_is_self_contained_and_complete(setup: dict[str, Any], tmp_path: Path) -> None:
    from studio.evaluation.report import write_report
    from studio.evaluation.views import get_evaluation

    out = write_report(setup["semantic"], tmp_path / "report.html")
    text = out.read_text()
    images = _check_self_contained(text)
    view = get_evaluation(setup["semantic"])
    assert f"<title>Evaluation {view.id}: {setup['unet'].name} on shelves (data v1) val</title>" in text
    assert "1 image · semantic" in text or f"{view.image_count} images · semantic" in text
    for section in ("Summary metrics", "Confusion matrix", "Per class", "Worst images first", "Training", "Model"):
        assert f"<h2>{section}</h2>" in text
    assert "mIoU" in text and "pixel accuracy" in text and "tape (index 5)" in text
    assert sum(i.startswith(b"\x89PNG") for i in images) == 4  # counts, row-normalised, per-class bars, curves
    assert sum(i.startswith(b"\xff\xd8") for i in images) == 2 * view.image_count  # ground truth + prediction each
    assert b"Software" not in b"".join(i for i in images if i.startswith(b"\x89PNG"))  # no text chunk with a URL


def test_classification_report(setup: dict[str, Any], tmp_path: Path) -> None:
    from studio.evaluation.report import evaluation_report

    text = evaluation_report(setup["classification"])
    _check_self_contained(text)
    assert "<h2>Mistakes</h2>" in text and "accuracy" in text


def test_cli_report_and_list(setup: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from studio.cli import app

    runner = CliRunner()
    out = tmp_path / "r.html"
    made = runner.invoke(app, ["evaluations", "report", str(setup["semantic"]), str(out)])
    assert made.exit_code == 0 and f"wrote {out}" in made.stdout and out.is_file(), made.output
    again = runner.invoke(app, ["evaluations", "report", str(setup["semantic"]), str(out)])
    assert again.exit_code == 1 and "already exists" in str(again.exception)
    assert runner.invoke(app, ["evaluations", "report", str(setup["semantic"]), str(out), "--force"]).exit_code == 0
    wrong = runner.invoke(app, ["evaluations", "report", str(setup["semantic"]), str(tmp_path / "r.pdf")])
    assert wrong.exit_code == 1 and "expected an .html file name" in str(wrong.exception)
    listed = runner.invoke(app, ["evaluations", setup["unet"].name])  # the list, as before
    assert listed.exit_code == 0 and setup["unet"].name in listed.stdout
    assert setup["classifier"].name in runner.invoke(app, ["evaluations"]).stdout
