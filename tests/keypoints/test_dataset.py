"""Keypoint datasets on disk: content-addressed clips, refusals, deterministic splits, immutable versions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio.errors import Conflict, InvalidInput, NotFound
from studio.keypoints.dataset import (VAL_PERCENT, add_clip, add_clips, create_keypoint_dataset, dataset_dir,
                                      declare_classes, default_split, list_keypoint_datasets, list_versions,
                                      load_manifest, load_version, snapshot, version_info)


def _clip(seed: int, frames: int = 6, dim: int = 126) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(frames, dim)).astype(np.float32)


def test_clips_are_content_addressed_and_stored_with_their_labels(data_dir: Path) -> None:
    folder = create_keypoint_dataset("signs", "hands126")
    assert folder == data_dir / "keypoints" / "signs"
    frames = _clip(0)
    cid = add_clip("signs", frames, "hello", "greeting", source="cam 1")
    assert len(cid) == 64 and (folder / "clips" / f"{cid}.npz").is_file()
    with np.load(folder / "clips" / f"{cid}.npz", allow_pickle=False) as data:
        np.testing.assert_array_equal(data["frames"], frames)
        assert (str(data["gloss"]), str(data["category"]), str(data["source"])) == ("hello", "greeting", "cam 1")
    manifest = load_manifest("signs")
    assert manifest["layout"]["name"] == "hands126" and manifest["glosses"] == ["hello"]
    assert manifest["clips"] == [{"id": cid, "gloss": "hello", "category": "greeting", "split": default_split(cid),
                                  "frames": 6, "source": "cam 1"}]
    # the same frames again: the same id, nothing added, the duplicate reported
    assert add_clip("signs", frames.copy(), "hello", "greeting") == cid
    report = add_clips("signs", [(frames, "hello", "greeting"), (_clip(1), "thanks", None)])
    assert report.added == 1 and len(report.duplicates) == 1 and report.ids[0] == cid
    assert "same frames as clip" in report.duplicates[0] and "cam 1" in report.duplicates[0]
    with pytest.raises(Conflict, match="already clip .* labelled 'hello'"):
        add_clips("signs", [(_clip(5), "new", None), (frames, "goodbye", None)])
    assert len(list((folder / "clips").iterdir())) == 2  # the good clip of the refused batch was not written
    assert load_manifest("signs")["glosses"] == ["hello", "thanks"]
    assert not list(folder.rglob("*.tmp*"))  # every file was renamed into place


@pytest.mark.parametrize("frames, message", [
    (np.zeros((5, 156)), r"expected 126 values per frame for layout hands126, got 156 \(shape \(5, 156\)\)"),
    (np.zeros((0, 126)), "expected at least one frame, got an empty clip"),
    (np.zeros(126), r"expected shape \(T, 126\), got \(126,\)"),
    (np.where(np.arange(5 * 126).reshape(5, 126) == 300, np.nan, 0.0), "NaN or inf .first in frame 2"),
    ("hello", "expected a .T, 126. float array"),
])
def test_bad_clips_name_expected_and_got_and_write_nothing(data_dir: Path, frames: np.ndarray, message: str) -> None:
    create_keypoint_dataset("signs", "hands126")
    before = (dataset_dir("signs") / "manifest.json").read_bytes()
    with pytest.raises(InvalidInput, match=message):
        add_clips("signs", [(_clip(0), "ok", None), (frames, "bad", None)])  # the good clip is not added either
    assert (dataset_dir("signs") / "manifest.json").read_bytes() == before
    assert not (dataset_dir("signs") / "clips").exists()


def test_other_refusals(data_dir: Path) -> None:
    with pytest.raises(InvalidInput, match="keypoint dataset name '../x'"):
        create_keypoint_dataset("../x")
    with pytest.raises(NotFound, match="no keypoint dataset named 'nope'; existing: .none."):
        add_clip("nope", _clip(0), "a")
    create_keypoint_dataset("signs", "hands126")
    with pytest.raises(Conflict, match="already exists .layout hands126"):
        create_keypoint_dataset("signs", "hands_pose156", exist_ok=True)
    create_keypoint_dataset("signs", "hands126", exist_ok=True)  # same layout: fine
    with pytest.raises(InvalidInput, match="gloss: expected a non-empty name"):
        add_clip("signs", _clip(0), " ")
    with pytest.raises(InvalidInput, match="split 'dev'"):
        add_clip("signs", _clip(0), "a", split="dev")
    with pytest.raises(InvalidInput, match="has no clips; add some before taking a snapshot"):
        snapshot("signs")
    with pytest.raises(NotFound, match=r"has no version 3 \(data v3\); versions: none"):
        load_version("signs", 3)


def test_splits_are_deterministic_per_clip_unless_given(data_dir: Path) -> None:
    create_keypoint_dataset("signs", "hands126")
    clips = [_clip(i, frames=2) for i in range(200)]
    ids = add_clips("signs", [{"frames": f, "gloss": "a"} for f in clips]).ids
    splits = {c["id"]: c["split"] for c in load_manifest("signs")["clips"]}
    assert all(splits[i] == default_split(i) for i in ids)
    assert abs(sum(s == "val" for s in splits.values()) - 2 * VAL_PERCENT) <= 14  # ~20 % of 200
    # the same clip lands in the same split in another dataset, whatever else that one holds
    create_keypoint_dataset("other", "hands126")
    assert add_clip("other", clips[7], "b") == ids[7]
    assert load_manifest("other")["clips"][0]["split"] == splits[ids[7]]
    explicit = add_clip("other", _clip(999, frames=2), "b", split="test")
    assert {c["id"]: c["split"] for c in load_manifest("other")["clips"]}[explicit] == "test"


def test_versions_are_frozen_and_list_only_used_classes(data_dir: Path) -> None:
    create_keypoint_dataset("signs", "hands126")
    declare_classes("signs", ["zebra", "hello", "never-used"], ["animal"])
    first = add_clips("signs", [(_clip(0), "hello", None), (_clip(1), "zebra", "animal")]).ids
    assert snapshot("signs", note="two clips") == 1
    assert snapshot("signs") == 1 and list_versions("signs") == [1]  # unchanged: v1 again, nothing written
    add_clip("signs", _clip(2), "new")
    assert snapshot("signs") == 2 and list_versions("signs") == [1, 2]
    assert snapshot("signs", reuse=False) == 3  # asked for explicitly: a new version anyway
    v1 = version_info("signs", 1)
    assert (v1.version, v1.note, v1.layout.name) == (1, "two clips", "hands126")
    assert v1.glosses == ["zebra", "hello"] and v1.categories == ["animal"]  # declared order, only those with clips
    assert [c.id for c in v1.clips] == first and [c.gloss for c in load_version("signs", 2)][-1] == "new"
    np.testing.assert_array_equal(v1.clips[1].load(), _clip(1))
    assert v1.clips[0].category is None and v1.clips[1].category == "animal"
    frozen = (dataset_dir("signs") / "versions" / "v1.json").read_bytes()
    add_clip("signs", _clip(3), "later")
    assert (dataset_dir("signs") / "versions" / "v1.json").read_bytes() == frozen
    assert json.loads(frozen)["format"] == "studio.keypoints/1"
    from studio.keypoints.dataset import _write_json

    with pytest.raises(Conflict, match="versions are never rewritten"):
        _write_json(dataset_dir("signs") / "versions" / "v1.json", {}, exclusive=True)
    [summary] = list_keypoint_datasets()
    assert (summary.name, summary.layout, summary.dim, summary.clips, summary.glosses, summary.versions) == \
        ("signs", "hands126", 126, 4, 5, [1, 2, 3])


def test_gloss_order_places_new_glosses(data_dir: Path) -> None:
    create_keypoint_dataset("signs", "hands126")
    add_clips("signs", [(_clip(0), "apple", None), (_clip(1), "zebra", None)], gloss_order=["zebra", "unused"])
    assert load_manifest("signs")["glosses"] == ["zebra", "apple"]
