"""studio.evaluation.inspect: the page helpers on a real (random-init) evaluation of a demo dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_inference import make_dataset, unet_version

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def setup(module_studio: Path) -> dict[str, Any]:
    from studio.evaluation.run import evaluate_version

    dv = make_dataset(module_studio, n_images=6)
    unet = unet_version(module_studio, dv)
    return {"dv": dv, "root": module_studio, "unet": unet, "eval": evaluate_version(unet.id)}


def test_image_layers_are_the_stored_prediction_and_the_ground_truth(setup: dict[str, Any]) -> None:
    from studio.evaluation.inspect import image_layers
    from studio.evaluation.data import class_lut, ground_truth, load_split
    from studio.evaluation.views import evaluation_images, load_prediction

    data = load_split(setup["dv"], "val")
    lut = class_lut(setup["unet"].classes, data.classes)
    images = evaluation_images(setup["eval"])
    assert len(images) == 2
    for item in data.items:
        rgb, gt, pred = image_layers(setup["eval"], item.version_image_id)
        assert rgb.shape == (item.height, item.width, 3) and rgb.dtype == np.uint8
        assert np.array_equal(gt, ground_truth(item, lut))
        assert set(np.unique(gt)) <= {0, 1, 2, 3, 4, 5, 255} and (gt > 0).any()
        assert pred is not None and np.array_equal(pred, load_prediction(setup["eval"], item.key))


def test_image_layers_refuses_an_image_outside_the_split(setup: dict[str, Any]) -> None:
    from studio.errors import InvalidInput, NotFound
    from studio.evaluation.inspect import image_layers

    with pytest.raises(InvalidInput, match=r"image 999999 is not in split 'val' of shelves \(data v1\)"):
        image_layers(setup["eval"], 999999)
    with pytest.raises(NotFound, match="no evaluation 424242"):
        image_layers(424242, 1)


def test_overlays_colour_classes_and_grey_ignored_pixels(setup: dict[str, Any]) -> None:
    from studio.colors import hex_to_rgb
    from studio.evaluation.inspect import IGNORE_RGB, overlay, overlay_pair

    classes = setup["unet"].classes
    rgb = np.full((4, 6, 3), 100, np.uint8)
    labels = np.zeros((4, 6), np.int64)
    labels[0, 0], labels[1, 1] = 1, 255
    gt_view, pred_view = overlay_pair(rgb, labels, None, classes)
    assert np.array_equal(pred_view, rgb)  # no prediction: the image as is
    assert np.array_equal(gt_view[2:], rgb[2:])  # background untouched
    box = np.array(hex_to_rgb(next(c["color"] for c in classes if c["index"] == 1)))
    assert np.abs(gt_view[0, 0].astype(int) - ((100 + box) / 2).astype(int)).max() <= 1
    assert np.abs(gt_view[1, 1].astype(int) - (100 + np.array(IGNORE_RGB)) // 2).max() <= 1
    assert np.array_equal(overlay(rgb, labels, classes), gt_view)


def test_disagreement_colours_follow_the_legend() -> None:
    from studio.colors import hex_to_rgb
    from studio.errors import InvalidInput
    from studio.evaluation.inspect import DISAGREEMENT_LEGEND, disagreement_colours, disagreement_overlay

    codes = np.array([[0, 1], [2, 3]], np.uint8)
    colours = disagreement_colours(codes)
    assert colours.shape == (2, 2, 3) and colours.dtype == np.uint8
    for code in range(4):
        assert tuple(colours[divmod(code, 2)]) == hex_to_rgb(DISAGREEMENT_LEGEND[code][1])
    rgb = np.full((2, 2, 3), 200, np.uint8)
    shown = disagreement_overlay(rgb, codes)
    assert tuple(shown[0, 0]) == (120, 120, 120)  # agreement: dimmed
    assert not np.array_equal(shown[1, 1], shown[1, 0])
    with pytest.raises(InvalidInput, match="expected an \\(H, W\\) map of 0..3"):
        disagreement_colours(np.array([[4]]))


def test_clickable_confusion_has_one_marker_per_cell_and_clicks_read_back(setup: dict[str, Any]) -> None:
    from studio.evaluation.inspect import clickable_confusion, confusion_cell
    from studio.evaluation.views import get_evaluation

    view = get_evaluation(setup["eval"])
    figure = clickable_confusion(view.confusion, view.class_names, normalise=True)
    heatmap, cells = figure.data
    assert heatmap.type == "heatmap" and cells.type == "scatter"
    assert len(cells.x) == 36 and [list(c) for c in cells.customdata[:2]] == [[0, 0], [0, 1]]
    assert (cells.y[7], cells.x[7]) == (view.class_names[1], view.class_names[1])
    assert figure.layout.clickmode == "event+select"
    # the selection state Streamlit hands back for a click on the (jar, box) cell
    state = {"selection": {"points": [{"curve_number": 1, "point_index": 13, "x": "box", "y": "jar",
                                       "customdata": [2, 1]}], "point_indices": [13], "box": [], "lasso": []}}
    assert confusion_cell(state) == (2, 1)
    assert confusion_cell({"points": [{"x": "box", "y": "jar"}]}, view.class_names) == (2, 1)
    assert confusion_cell({"selection": {"points": []}}) is None and confusion_cell(None) is None


def test_headlines_and_labels(setup: dict[str, Any]) -> None:
    from studio.evaluation.inspect import evaluation_label, headline_metrics
    from studio.evaluation.views import list_evaluations

    (summary,) = list_evaluations(setup["unet"].name)
    headline = headline_metrics("semantic", summary.summary)
    assert [k for k, _ in headline] == ["miou", "pixel_accuracy", "mean_dice", "ms_per_image"]
    assert headline_metrics("classification", {"accuracy": 0.5, "macro_f1": None}) == [("accuracy", 0.5)]
    label = evaluation_label(summary)
    assert label.startswith(f"#{summary.id} · shelves (data v1) val · miou ") and summary.created in label


def test_dataset_version_label(setup: dict[str, Any]) -> None:
    from studio.evaluation.inspect import dataset_version_label

    assert dataset_version_label(setup["dv"]) == "shelves (data v1)"
    assert dataset_version_label(9999) == "dataset version 9999 (deleted)"
