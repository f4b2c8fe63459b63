"""Train page (AppTest) for the seeds' model families: a classical classifier (no backbone, the
image size is its feature side) and the frame-CNN + GRU on a clip dataset of raw frames (only the
architectures that read raw frames are offered for it); the queued job carries the choice."""

from __future__ import annotations

import numpy as np

from studio.jobs import list_jobs
from tests.pages.test_train_models_pages import open_page


def test_a_classical_classifier_is_queued_from_the_train_page(demo_studio: dict[str, str]) -> None:
    at = open_page("app_pages/train.py")
    at.selectbox(key="train_task").set_value("classification")
    at.run()
    assert {"classical_svm", "classical_rf", "vgg16", "mobilenet_v2"} <= set(at.selectbox(key="train_arch").options)
    at.selectbox(key="train_arch").set_value("classical_rf")
    at.run()
    assert any("random forest" in c.value for c in at.caption)
    at.number_input(key="train_size").set_value(64)
    at.text_area(key="train_yaml").set_value("model_kwargs: {n_estimators: 30}\n")
    next(b for b in at.button if b.label == "Queue training").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (job,) = list_jobs(kind="train")
    config = job.params["config"]
    assert (config["architecture"], config["backbone"], config["image_size"], config["model_kwargs"]) == (
        "classical_rf", "", 64, {"n_estimators": 30})


def test_a_clip_dataset_trains_the_frame_cnn_gru(demo_studio: dict[str, str]) -> None:
    from studio.frame_clips import add_frame_clips, create_frame_dataset

    rng = np.random.default_rng(0)
    create_frame_dataset("waves")
    add_frame_clips("waves", [{"frames": rng.integers(0, 255, (6, 24, 24, 3), np.uint8), "gloss": g}
                              for g in ("hi", "bye") for _ in range(2)])
    at = open_page("app_pages/train.py")
    at.selectbox(key="train_task").set_value("sequence")
    at.run()
    assert "waves" in at.selectbox(key="train_dataset").options
    at.selectbox(key="train_dataset").set_value("waves")
    at.run()
    assert at.selectbox(key="train_arch").options == ["frame_cnn_gru"]
    at.number_input(key="train_size").set_value(32)
    next(b for b in at.button if b.label == "Queue training").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (job,) = list_jobs(kind="train")
    config = job.params["config"]
    assert (config["architecture"], config["dataset"], config["dataset_version"], config["image_size"]) == (
        "frame_cnn_gru", "waves", 1, 32)  # the clip dataset's version, fixed when queued


def test_the_models_page_shows_a_classical_version_and_offers_its_arrays(demo_studio: dict[str, str]) -> None:
    from studio.datasets import snapshot
    from studio.training.config import TrainConfig
    from studio.training.run import run_training

    config = TrainConfig(task="classification", architecture="classical_svm", backbone="", dataset="shelves",
                         dataset_version=snapshot("shelves").version, image_size=32)
    name = run_training(config, "page-classical").version.name
    at = open_page("app_pages/models.py")
    assert at.selectbox(key="models_version").value == name
    labels = [b.proto.label for b in at.get("download_button")]
    assert any(label.startswith("classical: classical.npz") for label in labels), labels
    assert not any(label.startswith("last") for label in labels)
