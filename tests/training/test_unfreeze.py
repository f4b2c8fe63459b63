"""Progressive unfreezing (studio.training.unfreeze): the schedule is validated by TrainConfig; in
a real run a frozen group's weights do not move until its epoch, each group learns at its own
rate, frozen BatchNorm keeps its statistics, and a run with a schedule resumes. Real torchvision /
SmallCNN models, real SQLite and files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from studio.errors import InvalidInput
from studio.training.config import TrainConfig
from studio.training.unfreeze import apply, module_paths, param_groups


@pytest.mark.parametrize("schedule, message", [
    ([[1, "head"]], "first entry starts after 1 epochs; expected 0"),  # nothing would train in epoch 1
    ([[0, "head"], [3, "layer4"], [2, "layer3"]], "must be in epoch order"),  # out of order
    ([[0, "head"], [0, "head"]], "listed twice"),  # a group twice
    ([[0, "all"], [2, "head"]], "'all' must be the last entry"),  # 'all' leaves nothing for later entries
    ([[0, "head", 0]], "lr_scale must be a number > 0"),  # a rate of zero: frozen by another name
    ([[0, ""]], "group must be 'head', 'all' or a module path"),  # no group
    ([[-1, "head"]], "after_epochs must be an integer >= 0"),  # negative epoch
    ([[0, "head", 1.0, "x"]], r"expected \[after_epochs, group\]"),  # too many fields
    ("head", "expected a list of"),  # not a list
])
def test_bad_schedules_are_refused_by_the_config(schedule: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        TrainConfig(unfreeze=schedule)  # type: ignore[arg-type]


def test_groups_follow_the_schedule_on_a_torchvision_resnet() -> None:
    from studio.nets import create_model

    model = create_model("resnet18", num_classes=3)
    schedule = [[0, "head"], [2, "layer4", 0.1], [4, "all", 0.01]]
    groups = list(param_groups(model, schedule, 1e-3, "resnet18"))
    assert [(g["name"], g["lr"]) for g in groups] == [("head", 1e-3), ("layer4", 1e-4), ("all", 1e-5)]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))  # each parameter once
    model.train()
    assert apply(model, schedule, 1, "resnet18") == ["head"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"} and not model.bn1.training and not model.layer4[0].bn1.training
    assert apply(model, schedule, 3, "resnet18") == ["layer4"]
    assert model.layer4[0].conv1.weight.requires_grad and not model.layer3[0].conv1.weight.requires_grad
    apply(model, schedule, 5, "resnet18")
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(InvalidInput, match="resnet18 has no module 'layer9'; expected 'head', 'all' or one of: "):
        list(param_groups(model, [[0, "layer9"]], 1e-3, "resnet18"))
    assert "layer4" in module_paths(model) and "layer4.0" in module_paths(model)


@pytest.fixture
def shelves(studio_env: dict[str, str], tmp_path: Path) -> int:
    from studio.datasets import ingest_doc, snapshot
    from studio.demo import generate_demo

    ingest_doc(generate_demo(tmp_path / "demo", n_images=4, seed=1, width=160, height=120), dataset="shelves")
    return snapshot("shelves").version


def test_a_frozen_group_does_not_move_until_its_epoch_and_the_run_resumes(shelves: int) -> None:
    from studio.registry import load_checkpoint
    from studio.training.loop import TrainHooks
    from studio.training.run import run_dir_for, run_training

    schedule = [[0, "head"], [1, "features.8", 0.5], [2, "all", 0.1]]  # small_cnn: features.8 = the third conv
    config = TrainConfig.from_dict({"task": "classification", "architecture": "small_cnn", "backbone": "",
                                    "dataset": "shelves", "dataset_version": shelves, "epochs": 3, "batch_size": 8,
                                    "image_size": 32, "num_workers": 0, "augment": {}, "scheduler": "none",
                                    "lr": 1e-2, "unfreeze": schedule, "model_kwargs": {"channels": [8, 8, 8]}})
    torch.manual_seed(config.seed)
    from studio.nets import create_model

    start = create_model("small_cnn", num_classes=5, channels=(8, 8, 8)).state_dict()  # what the run starts from
    after: list[dict[str, torch.Tensor]] = []
    lines: list[str] = []
    hooks = TrainHooks(on_epoch=lambda r: after.append(load_checkpoint(run_dir_for("thaw") / "last.pt")["model"]),
                       log=lines.append)
    run_training(config, "thaw", hooks, register=False)

    def moved(state: dict[str, torch.Tensor], prefix: str) -> bool:
        return any(not torch.equal(state[k], start[k]) for k in start if k.startswith(prefix) and
                   not k.endswith("num_batches_tracked"))

    assert moved(after[0], "classifier") and not moved(after[0], "features.8") and not moved(after[0], "features.0")
    assert not any(not torch.equal(after[0][k], start[k]) for k in start if k.startswith("features.1.running"))
    assert moved(after[1], "features.8") and not moved(after[1], "features.0")  # epoch 2: the third conv too
    assert moved(after[2], "features.0")  # epoch 3: everything
    assert any("epoch 2: training features.8" in line for line in lines)
    groups = load_checkpoint(run_dir_for("thaw") / "last.pt")["optimizer"]["param_groups"]
    assert [g["name"] for g in groups] == ["head", "features.8", "all"]
    assert [g["lr"] / groups[0]["lr"] for g in groups] == pytest.approx([1.0, 0.5, 0.1])  # per-group rates

    longer = TrainConfig.from_dict({**config.to_dict(), "epochs": 4})
    resumed = run_training(longer, "thaw", register=False)  # the optimizer's groups load back as they were
    assert resumed.result.resumed_from == 3 and resumed.result.epochs_run == 4
