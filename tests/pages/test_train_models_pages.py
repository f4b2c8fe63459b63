"""Train and Models pages (AppTest): queue a run with the chosen settings; list a version
with its curves and metadata; import refusals are shown, not raised."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from studio.jobs import list_jobs
from tests.pages.conftest import APP


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def test_train_page_queues_a_run_with_the_chosen_settings(demo_studio: dict[str, str]) -> None:
    at = open_page("app_pages/train.py")
    at.selectbox(key="train_arch").set_value("deeplabv3plus")
    at.run()
    at.selectbox(key="train_backbone").set_value("resnet18")
    at.number_input(key="train_epochs").set_value(3)
    at.number_input(key="train_size").set_value(128)
    at.text_area(key="train_yaml").set_value("seed: 7\nnum_workers: 0\n")
    next(b for b in at.button if b.label == "Queue training").click()
    at.run()
    assert not at.exception, at.exception
    assert any("Training queued" in s.value for s in at.success)
    (job,) = list_jobs(kind="train")
    config = job.params["config"]
    assert (config["architecture"], config["backbone"], config["epochs"], config["image_size"], config["seed"]) == (
        "deeplabv3plus", "resnet18", 3, 128, 7)
    assert config["dataset"] == "shelves" and job.params["run_id"]


def test_train_page_shows_a_config_error_instead_of_raising(demo_studio: dict[str, str]) -> None:
    at = open_page("app_pages/train.py")
    at.text_area(key="train_yaml").set_value("epoch: 3\n")
    next(b for b in at.button if b.label == "Queue training").click()
    at.run()
    assert not at.exception and any("did you mean epochs" in e.value for e in at.error)
    assert list_jobs(kind="train") == []


def test_models_page_lists_a_version_with_curves(demo_studio: dict[str, str]) -> None:
    from studio.datasets import snapshot
    from studio.training.config import TrainConfig
    from studio.training.run import run_training

    config = TrainConfig(architecture="unet", backbone="resnet18", dataset="shelves",
                         dataset_version=snapshot("shelves").version, epochs=2, image_size=64, batch_size=2,
                         num_workers=0)
    name = run_training(config, "page").version.name
    from studio.benchmarking import benchmark, store_benchmark

    result = benchmark(name, "torch", size=(64, 64), warmup=1, iters=2)
    store_benchmark(result.model_version_id, result)
    at = open_page("app_pages/models.py")
    speed = at.dataframe[1].value
    assert speed["model"].tolist() == [name] and speed["mean ms"].iloc[0] > 0
    assert speed["provider"].tolist() == ["torch eager (float32)"]  # what ran the network, on every row
    next(b for b in at.button if b.key == "models_bench_go").click()
    at.run()
    assert [j.params["model"] for j in list_jobs(kind="bench")] == [name]
    assert at.dataframe[0].value["name"].tolist() == [name]
    assert at.selectbox(key="models_version").value == name
    assert len(at.get("plotly_chart")) >= 1  # training curves
    assert any("box, jar, bottle, can, tape" in m.value for m in at.markdown)
    # the monitored metric named, in the table and the headline numbers
    assert "best val mIoU" in at.dataframe[0].value.columns and "best_miou" not in at.dataframe[0].value.columns
    assert [m.label for m in at.metric][:2] == ["best val mIoU", "best epoch"]
    figure = at.get("plotly_chart")[0].proto.spec
    assert '"type":"log"' not in figure.replace(" ", "") and "val mIoU (monitored)" in figure
    at.toggle(key="models_log_loss").set_value(True)
    at.run()
    assert '"type":"log"' in at.get("plotly_chart")[0].proto.spec.replace(" ", "")  # the loss axis, log scale
    assert any(b.label.startswith("Bundle (.zip") for b in at.get("download_button"))
    # promote: one click, then the page says where it is in production
    at.button(key="models_promote").click()
    at.run()
    assert not at.exception, at.exception
    assert any(s.value == "In production for shelves / semantic" for s in at.success)
    assert at.dataframe[0].value["production"].tolist() == ["shelves / semantic"]


def test_models_page_empty_state(studio_env: dict[str, str]) -> None:
    at = open_page("app_pages/models.py")
    assert any("No model versions yet" in i.value for i in at.info)


def test_train_page_queues_a_sign_language_run_on_a_keypoint_dataset(studio_env: dict[str, str]) -> None:
    from studio.keypoints.dataset import add_clips, create_keypoint_dataset
    from studio.keypoints.synthetic import generate_signs

    create_keypoint_dataset("signs", "hands126")
    add_clips("signs", generate_signs(3, 4, length=12, layout="hands126"))
    at = open_page("app_pages/train.py")
    at.selectbox(key="train_task").set_value("sequence")
    at.run()
    assert at.selectbox(key="train_dataset").options == ["signs"]
    assert "frame_cnn_gru" not in at.selectbox(key="train_arch").options
    at.selectbox(key="train_arch").set_value("sign_gru")
    at.run()
    next(b for b in at.button if b.label == "Queue training").click()
    at.run()
    assert not at.exception, at.exception
    (job,) = list_jobs(kind="train")
    assert (job.params["config"]["task"], job.params["config"]["dataset"],
            job.params["config"]["architecture"]) == ("sequence", "signs", "sign_gru")
