"""Model registry (studio/registry.py): naming, the store, safe checkpoint loading, cleanup."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import torch
import yaml

from studio import registry
from studio.errors import Conflict, InvalidInput, NotFound, StudioError

CLASSES = [{"name": "box", "index": 1, "color": "#1f77b4"}, {"name": "can", "index": 4, "color": "#d62728"}]


def _run_files(folder: Path) -> dict[str, Path]:
    """What a trainer leaves in its run folder: two checkpoints and the CSV log."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = {"layer.weight": torch.arange(6.0).reshape(2, 3)}
    registry.save_checkpoint(folder / "best.pt", model=weights, epoch=3, best_metric=0.8, config={"lr": 0.1})
    registry.save_checkpoint(folder / "last.pt", model=weights, epoch=4, best_metric=0.8)
    (folder / "training_log.csv").write_text("epoch,train_loss,val_loss,miou,lr\n1,1.0,1.1,0.5,0.1\n")
    return {"best": folder / "best.pt", "last": folder / "last.pt", "training_log": folder / "training_log.csv"}


def _register(tmp_path: Path, run: str = "run") -> registry.ModelVersion:
    return registry.register_model(task="semantic", architecture="unet", backbone="resnet18", classes=CLASSES,
                                   dataset="shelves", files=_run_files(tmp_path / run), config={"epochs": 4},
                                   metrics={"miou": 0.8}, preprocessing={"mean": [0.5] * 3})


def test_names_follow_the_convention() -> None:
    assert registry.model_name("UNet", "resnet34", "my shelves", "1.2.0", date(2026, 11, 23)) == \
        "unet_resnet34_my-shelves_v1.2.0_20261123"
    assert registry.num_outputs("semantic", CLASSES) == 5  # channel = class index, 0 = background
    assert registry.output_names("semantic", CLASSES)[:2] == ["background", "box"]
    assert registry.num_outputs("classification", CLASSES) == 2 and registry.output_names("instance", CLASSES) == ["box", "can"]


def test_register_writes_the_folder_and_the_row(studio_env: dict[str, str], tmp_path: Path) -> None:
    first = _register(tmp_path, "a")
    second = _register(tmp_path, "b")
    assert (first.semver, second.semver) == ("1.0.0", "1.1.0")  # next minor in the lineage
    folder = registry.model_dir(first)
    assert folder.parent.name == "semantic" and folder.name == first.name
    assert sorted(p.name for p in folder.iterdir()) == sorted([
        f"{first.name}_best.pt", f"{first.name}_last.pt", "training_log.csv", "config.yaml", "metrics.json",
        "classes.json", "preprocessing.json"])
    assert yaml.safe_load((folder / "config.yaml").read_text()) == {"epochs": 4}
    assert json.loads((folder / "classes.json").read_text()) == CLASSES
    assert first.checksum == registry.sha256_of(registry.model_file(first, "best"))
    assert not (tmp_path / "a" / "best.pt").exists()  # moved, not copied
    loaded = registry.load_checkpoint(registry.model_file(first, "best"))
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["layer.weight"], torch.arange(6.0).reshape(2, 3))
    assert [m.name for m in registry.list_models()] == [second.name, first.name]
    assert registry.get_model(first.name).id == registry.get_model(first.id).id
    with pytest.raises(NotFound, match="did you mean"):
        registry.get_model(first.name[:-1])


def test_a_failed_registration_leaves_nothing(studio_env: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="model files not found"):
        registry.register_model(task="semantic", architecture="unet", backbone="r18", classes=CLASSES,
                                dataset="shelves", files={"best": tmp_path / "nope.pt"})
    with pytest.raises(InvalidInput, match="class entry"):
        registry.register_model(task="semantic", architecture="unet", backbone="r18", classes=[{"name": 3}],
                                dataset="shelves", files=_run_files(tmp_path / "x"))
    assert registry.list_models() == [] and not any(registry.models_root().rglob("*.pt"))


class _Payload:
    """A pickle that would run a command when unpickled without weights_only."""

    def __reduce__(self):  # noqa: ANN204
        return (print, ("pwned",))


@pytest.mark.parametrize("content, message", [
    ("pickle", r"refused: loading it would run pickled code \(print\)"),  # code in the pickle
    ("pickle5", "model.pt"),  # the same with pickle protocol 5: refused earlier, as unreadable
    ("garbage", "not a readable PyTorch checkpoint"),  # not a checkpoint at all
    ("truncated", "not a readable PyTorch checkpoint"),  # cut off mid-file
    ("list", "expected a dict"),  # loads, but is not a state_dict
])
def test_hostile_or_broken_checkpoints_are_refused(tmp_path: Path, content: str, message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "model.pt"
    if content == "pickle":
        torch.save({"model": _Payload()}, path)
    elif content == "pickle5":
        torch.save({"model": _Payload()}, path, pickle_protocol=5)
    elif content == "garbage":
        path.write_bytes(b"definitely not a zip or a pickle")
    elif content == "truncated":
        torch.save({"model": {"w": torch.ones(1000)}}, path)
        path.write_bytes(path.read_bytes()[:300])
    else:
        torch.save([torch.ones(2)], path)
    with pytest.raises(StudioError, match=message):
        registry.load_checkpoint(path)
    assert "pwned" not in capsys.readouterr().out  # the payload never ran


def test_a_bare_state_dict_is_wrapped(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(2)}, tmp_path / "sd.pt")
    assert set(registry.load_checkpoint(tmp_path / "sd.pt")) == {"model"}


def test_remove_and_cleanup_spare_evaluated_versions(studio_env: dict[str, str], tmp_path: Path) -> None:
    from studio.db import session_scope
    from studio.tables import Evaluation

    versions = [_register(tmp_path, f"r{i}") for i in range(4)]  # 1.0.0 .. 1.3.0, oldest first
    with session_scope() as session:
        session.add(Evaluation(model_version_id=versions[0].id, split="val", task="semantic"))
    with pytest.raises(Conflict, match="used by 1 evaluation"):
        registry.remove_model(versions[0].name)
    removed = registry.cleanup(keep=2)
    assert removed == [versions[1].name]  # the two newest stay; the evaluated oldest stays too
    assert not registry.model_dir(versions[1]).exists()
    assert {m.name for m in registry.list_models()} == {versions[0].name, versions[2].name, versions[3].name}
    assert registry.remove_model(versions[0].name, force=True) == versions[0].name
    with pytest.raises(InvalidInput, match="--keep 0"):
        registry.cleanup(keep=0)
