"""Model bundles (studio.bundles): a version out as a zip (weights only, metadata, model card,
changelog) and back in through `studio models import`; bundles that could write outside their
folder or run pickled code are refused with nothing written."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from studio.errors import InvalidInput
from tests.test_inference import make_dataset, scene, unet_version

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def setup(module_studio: Path) -> dict[str, Any]:
    from studio.evaluation.run import evaluate_version
    from studio.production import promote

    dv = make_dataset(module_studio, n_images=4)
    old = unet_version(module_studio, dv, seed=0)
    version = unet_version(module_studio, dv, seed=1)
    evaluation = evaluate_version(version.id, save_predictions=False)
    promote(version.name)
    bundle = module_studio / "out" / f"{version.name}.zip"
    from studio.bundles import bundle_version

    bundle_version(version.name, bundle)
    return {"root": module_studio, "version": version, "old": old, "evaluation": evaluation, "bundle": bundle}


def _state(path: Path) -> dict[str, Any]:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def _store(root: Path) -> tuple[int, list[str], list[str]]:
    """(model rows, files under models/, entries under the uploads folder): what an import may change."""
    from studio.config import get_settings
    from studio.registry import list_models

    settings = get_settings()
    uploads = sorted(p.name for p in settings.uploads_dir.iterdir()) if settings.uploads_dir.is_dir() else []
    return len(list_models()), sorted(str(p) for p in settings.models_dir.rglob("*")), uploads


def test_bundle_holds_weights_only_metadata_card_and_changelog(setup: dict[str, Any]) -> None:
    version = setup["version"]
    with zipfile.ZipFile(setup["bundle"]) as zf:
        names = sorted(zf.namelist())
        folder = f"{version.name}/"
        assert names == sorted(folder + n for n in ("manifest.json", "weights.pt", "config.yaml", "classes.json",
                                                    "preprocessing.json", "metrics.json", "README.md", "CHANGELOG.md"))
        manifest = json.loads(zf.read(folder + "manifest.json"))
        card = zf.read(folder + "README.md").decode()
        changes = zf.read(folder + "CHANGELOG.md").decode()
        zf.extract(folder + "weights.pt", setup["root"] / "peek")
    assert manifest["format"] == "studio.bundle/1" and manifest["weights"] == {"best": "weights.pt"}
    assert manifest["name"] == version.name and manifest["dataset"] == "shelves" and manifest["task"] == "semantic"
    assert set(manifest["files"]) == {n.split("/", 1)[1] for n in names} - {"manifest.json"}
    checkpoint = _state(setup["root"] / "peek" / folder / "weights.pt")
    assert set(checkpoint) <= {"model", "epoch", "best_metric", "config"}  # never the optimizer
    assert card.startswith(f"# {version.name}\n") and "| 1 | box | #ffe119 |" in card
    assert "## Evaluations" in card and f"| {setup['evaluation']} | shelves (data v1) val |" in card
    assert "In production for shelves / semantic since" in card
    assert "weights_only=True" in card
    lines = changes.splitlines()
    assert lines[0] == f"# Changelog of {version.name}"
    assert "trained on shelves (data v1)" in lines[2]
    assert any(f"follows v{setup['old'].semver} ({setup['old'].name})" in line for line in lines)
    assert any(f"evaluated on shelves (data v1) val (evaluation {setup['evaluation']}): mIoU " in line for line in lines)
    assert lines[-1].endswith("promoted to production for shelves / semantic")


def test_import_gives_the_same_model_back(setup: dict[str, Any]) -> None:
    from studio.inference import load_predictor
    from studio.model_import import import_model
    from studio.registry import model_file

    before = _store(setup["root"])
    imported = import_model(setup["bundle"])
    assert imported.source == "imported" and imported.task == "semantic" and imported.name != setup["version"].name
    assert imported.config["bundle"]["name"] == setup["version"].name
    assert imported.classes == setup["version"].classes
    original, again = _state(model_file(setup["version"], "best")), _state(model_file(imported, "best"))
    assert all(np.array_equal(original["model"][k].numpy(), again["model"][k].numpy()) for k in original["model"])
    image = scene(4)
    assert np.array_equal(load_predictor(setup["version"]).predict(image).labels,
                          load_predictor(imported).predict(image).labels)
    assert _store(setup["root"])[2] == before[2]  # the extraction folder is gone


def _rewrite(bundle: Path, out: Path, *, replace: dict[str, bytes] | None = None, extra: dict[str, bytes] | None = None,
             resign: bool = True) -> Path:
    """A copy of ``bundle`` with members replaced / added (names relative to the archive root);
    ``resign``: the manifest's checksums updated to match (so only the content is at fault)."""
    import hashlib

    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    folder = next(iter(members)).split("/", 1)[0]
    members.update(replace or {})
    members.update(extra or {})
    if resign:
        key = f"{folder}/manifest.json"
        manifest = json.loads(members[key])
        for name in list(manifest["files"]):
            manifest["files"][name] = hashlib.sha256(members[f"{folder}/{name}"]).hexdigest()
        members[key] = json.dumps(manifest).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def _pickled_module_checkpoint() -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"model": torch.nn.Linear(2, 2)}, buffer)  # a whole module: loading it runs code
    return buffer.getvalue()


@pytest.mark.parametrize(("case", "message"), [
    # a member that would land outside the bundle's folder
    ("traversal", "member '../evil.txt' has a '..' component"),
    # a checkpoint that needs pickled code to load
    ("pickled_checkpoint", "refused: loading it would run pickled code"),
    # a pickle file anywhere in the bundle
    ("pickle_member", "is a pickle, which could run code when loaded"),
    # weights edited after the bundle was written
    ("tampered", "weights.pt does not match its sha256 in manifest.json"),
    # more than the one folder
    ("two_folders", "expected one folder holding the bundle"),
])
def test_bad_bundles_are_refused_and_nothing_is_written(setup: dict[str, Any], tmp_path: Path, case: str,
                                                        message: str) -> None:
    from studio.bundles import import_bundle

    folder = setup["version"].name
    bad = {
        "traversal": lambda out: _rewrite(setup["bundle"], out, extra={"../evil.txt": b"x"}, resign=False),
        "pickled_checkpoint": lambda out: _rewrite(setup["bundle"], out,
                                                   replace={f"{folder}/weights.pt": _pickled_module_checkpoint()}),
        "pickle_member": lambda out: _rewrite(setup["bundle"], out, extra={f"{folder}/model.pkl": b"\x80\x04N."}),
        "tampered": lambda out: _rewrite(setup["bundle"], out, replace={f"{folder}/weights.pt": b"not weights"},
                                         resign=False),
        "two_folders": lambda out: _rewrite(setup["bundle"], out, extra={"other/readme.txt": b"hi"}, resign=False),
    }[case](tmp_path / f"{case}.zip")
    before = _store(setup["root"])
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        import_bundle(bad)
    assert _store(setup["root"]) == before
    assert not (tmp_path.parent / "evil.txt").exists() and not (setup["root"] / "evil.txt").exists()


def test_cli_bundle_and_import(setup: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from studio.cli import app

    runner = CliRunner()
    out = tmp_path / "b.zip"
    made = runner.invoke(app, ["models", "bundle", setup["version"].name, str(out)])
    assert made.exit_code == 0 and f"wrote {out}" in made.stdout, made.output
    again = runner.invoke(app, ["models", "bundle", setup["version"].name, str(out)])
    assert again.exit_code == 1 and "already exists; pass --force" in str(again.exception)
    imported = runner.invoke(app, ["models", "import", str(out)])
    assert imported.exit_code == 0 and "imported b.zip as unet_resnet18_shelves_v1." in imported.stdout, imported.output
