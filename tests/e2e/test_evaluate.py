"""Real browser: the Evaluate page of a trained, evaluated version; clicking a confusion-matrix
cell in the plotly chart lists the images behind that cell and opens the first one, with the
pixels of that confusion marked in magenta (as many as the cell counts for the image)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import LiveStudio, running_studio

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TRAIN_YAML = "architecture: unet\nbackbone: resnet18\nepochs: 1\nimage_size: 64\nbatch_size: 2\nnum_workers: 0\n"


@pytest.fixture(scope="module")
def evaluated_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStudio]:
    root = tmp_path_factory.mktemp("evaluate")
    (root / "train.yaml").write_text(TRAIN_YAML)
    with running_studio(root, ["train", "train.yaml", "--dataset", "shelves", "--here"],
                        ["evaluate", "1", "--here"]) as studio:
        yield studio


def _evaluation_files(root: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """(class names, pooled matrix, image file names) from the evaluation's CSV files."""
    (folder,) = root.glob("models/semantic/*/evaluations/1")
    with (folder / "confusion_matrix.csv").open() as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    cm = np.array([[int(v) for v in row[1:]] for row in rows[1:]], np.int64)
    with (folder / "predictions.csv").open() as f:
        files = [r["file_name"] for r in csv.DictReader(f)]
    return names, cm, files


def _assert_magenta(page, caption, count: int) -> None:  # noqa: ANN001 - playwright objects
    """The image above ``caption`` shows about ``count`` magenta pixels (its own bytes, as the browser got them)."""
    import cv2

    figure = caption.locator("xpath=ancestor::*[.//img][1]")
    source = figure.locator("img").first.get_attribute("src")
    data = page.request.get(source if source.startswith("http") else page.url.split("/evaluate")[0] + source).body()
    rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1].astype(int)
    magenta = (rgb[..., 0] > 190) & (rgb[..., 1] < 90) & (rgb[..., 2] > 190)
    assert 0.5 * count <= magenta.sum() <= 1.5 * count + 16, (magenta.sum(), count)


def test_clicking_a_confusion_cell_lists_its_images(evaluated_studio: LiveStudio, page) -> None:  # noqa: ANN001
    names, cm, files = _evaluation_files(evaluated_studio.root)
    n = len(names)
    # the page starts on the largest off-diagonal cell: click the largest other cell with counts
    start = cm.copy()
    if start.sum() > start.trace():
        np.fill_diagonal(start, 0)
    default = divmod(int(start.argmax()), n)
    ranked = [divmod(int(k), n) for k in np.argsort(-cm, axis=None, kind="stable")]
    gt, pred = next(cell for cell in ranked if cell != default and cm[cell] > 0)
    try:
        page.goto(f"{evaluated_studio.url}/evaluate")
        page.get_by_role("heading", name="Evaluate").wait_for()
        chart = page.locator(".stPlotlyChart").first
        chart.locator(".nsewdrag").first.wait_for()
        box = chart.locator(".nsewdrag").first.bounding_box()
        x = box["x"] + (pred + 0.5) * box["width"] / n
        y = box["y"] + (gt + 0.5) * box["height"] / n
        page.mouse.move(x, y)
        page.wait_for_timeout(300)
        page.mouse.click(x, y)
        caption = page.get_by_text(re.compile(rf"images? with ground truth {names[gt]} predicted as {names[pred]}"))
        caption.wait_for(timeout=30_000)
        shown = page.get_by_text(re.compile(r": ground truth \(grey = ignored\)")).first
        shown.wait_for(timeout=30_000)
        assert shown.inner_text().split(":")[0] in files
        assert page.get_by_text(re.compile(r": prediction$")).count() >= 1
        marked = page.get_by_text(re.compile(rf"pixels? of ground truth {names[gt]} predicted as {names[pred]} "
                                             r"\(magenta\)"))
        marked.first.wait_for(timeout=30_000)
        count = int(re.search(r": ([\d,]+) pixels? of", marked.first.inner_text()).group(1).replace(",", ""))
        assert count > 0
        _assert_magenta(page, marked.first, count)
    except Exception:
        page.screenshot(path=str(Path(evaluated_studio.root) / "evaluate-failure.png"), full_page=True)
        raise
