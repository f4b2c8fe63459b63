"""Keypoint datasets on disk: content-addressed clips, a live manifest, immutable versions.

Folder ``<settings.data_dir>/keypoints/<name>/``::

    manifest.json     {"format", "name", "layout", "glosses", "categories", "clips": [{id, gloss,
                      category, split, frames, source}], "created"} -- the live dataset
    clips/<id>.npz    frames (T, D) float32, gloss, category ("" = none), source; id = sha256 of
                      the frame values (float32, C order) and their shape
    versions/vN.json  a frozen copy of the clip list, glosses, categories and layout (what training reads)

Every file is written to a temporary name and renamed. Versions are never rewritten, and
clips are never deleted, so a version stays readable for good. Clips without an explicit
split get one from their id (``val`` for about 20 %, else ``train``): the same clip always
lands in the same split, whatever else the dataset holds. One writer at a time per dataset
(the CLI, a job); there is no lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from studio.config import get_settings
from studio.errors import Conflict, InvalidInput, NotFound
from studio.keypoints.layout import KeypointLayout, check_clip, get_layout
from studio.naming import data_version, data_versions

FORMAT = "studio.keypoints/1"
SPLITS = ("train", "val", "test")
VAL_PERCENT = 20
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Clip:
    """One clip of a keypoint dataset (or of one of its versions)."""

    id: str  # sha256 hex of the frames
    gloss: str
    category: str | None
    split: str  # train | val | test
    frames: int  # T
    source: str  # where it came from ("file.csv:12", "synthetic", ...)
    path: Path  # the clips/<id>.npz file

    def load(self) -> np.ndarray:
        """The (T, D) float32 frames."""
        return load_clip_frames(self.path)


@dataclass(frozen=True)
class KeypointVersion:
    """An immutable snapshot: what a training run reads."""

    name: str
    version: int
    note: str
    created: str
    layout: KeypointLayout
    glosses: list[str]  # classes, in output order
    categories: list[str]  # category classes, in output order ([] = no category labels)
    clips: list[Clip]

    def split(self, name: str) -> list[Clip]:
        return [c for c in self.clips if c.split == name]


@dataclass(frozen=True)
class KeypointDatasetSummary:
    name: str
    layout: str
    dim: int
    clips: int
    glosses: int
    categories: int
    versions: list[int]


@dataclass
class AddReport:
    """What ``add_clips`` did: ids in input order; duplicates = clips already in the dataset."""

    ids: list[str] = field(default_factory=list)
    added: int = 0
    duplicates: list[str] = field(default_factory=list)  # "source (same frames as clip <id>)"


# ---- paths and files -------------------------------------------------------------------------

def keypoints_root() -> Path:
    return get_settings().data_dir / "keypoints"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"keypoint dataset name {name!r}: expected 1-64 letters, digits, '_', '-' or '.', "
                           "starting with a letter or digit")
    return name


def dataset_dir(name: str) -> Path:
    return keypoints_root() / _check_name(name)


def _write_json(path: Path, data: Any, *, exclusive: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    try:
        if exclusive:  # never replace an existing file (versions are immutable)
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise Conflict(f"{path} already exists; versions are never rewritten") from None
        else:
            tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(f"{what}: {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{what}: {path} is not readable JSON ({exc})") from None


def clip_id(frames: np.ndarray) -> str:
    """sha256 hex of a checked (T, D) float32 clip: its shape and values."""
    digest = hashlib.sha256(f"{frames.shape[0]}x{frames.shape[1]}:".encode())
    digest.update(np.ascontiguousarray(frames, dtype=np.float32).tobytes())
    return digest.hexdigest()


def load_clip_frames(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as data:
            return np.asarray(data["frames"], dtype=np.float32)
    except FileNotFoundError:
        raise NotFound(f"clip file {path} does not exist") from None
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(f"clip file {path}: expected an .npz with 'frames' ({exc})") from None


def _write_clip(path: Path, frames: np.ndarray, gloss: str, category: str | None, source: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp.npz")
    try:
        with tmp.open("wb") as f:
            np.savez(f, frames=frames, gloss=np.str_(gloss), category=np.str_(category or ""), source=np.str_(source))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def default_split(clip: str) -> str:
    """``val`` for about VAL_PERCENT % of ids, else ``train`` (a pure function of the id)."""
    return "val" if int(clip[:8], 16) % 100 < VAL_PERCENT else "train"


# ---- datasets --------------------------------------------------------------------------------

def create_keypoint_dataset(name: str, layout: str | dict[str, Any] | KeypointLayout = "hands_pose156", *,
                            exist_ok: bool = False) -> Path:
    """Create an empty dataset of ``layout`` (a preset name, a layout dict or a KeypointLayout).

    ``exist_ok``: an existing dataset of the same layout is fine (Conflict if its layout differs).
    """
    layout = get_layout(layout)
    folder = dataset_dir(name)
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        current = get_layout(load_manifest(name)["layout"])
        if exist_ok and current == layout:
            return folder
        raise Conflict(f"keypoint dataset {name!r} already exists (layout {current.name}, {current.dim} values)")
    _write_json(manifest_path, {"format": FORMAT, "name": name, "layout": layout.to_dict(), "glosses": [],
                                "categories": [], "clips": [], "created": _now()})
    return folder


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_manifest(name: str) -> dict[str, Any]:
    """The live manifest of dataset ``name`` (NotFound naming the existing datasets)."""
    path = dataset_dir(name) / "manifest.json"
    if not path.is_file():
        existing = ", ".join(s.name for s in list_keypoint_datasets()) or "(none)"
        raise NotFound(f"no keypoint dataset named {name!r}; existing: {existing}")
    manifest = _read_json(path, f"keypoint dataset {name}")
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"{path}: format {manifest.get('format')!r}; expected {FORMAT!r}")
    return manifest


def dataset_layout(name: str) -> KeypointLayout:
    return get_layout(load_manifest(name)["layout"])


def list_keypoint_datasets() -> list[KeypointDatasetSummary]:
    root = keypoints_root()
    out = []
    for folder in sorted(root.iterdir() if root.is_dir() else []):
        path = folder / "manifest.json"
        if not path.is_file():
            continue
        try:
            manifest = _read_json(path, folder.name)
            layout = get_layout(manifest["layout"])
        except (InvalidInput, NotFound, KeyError):
            continue
        out.append(KeypointDatasetSummary(folder.name, layout.name, layout.dim, len(manifest["clips"]),
                                          len(manifest["glosses"]), len(manifest["categories"]),
                                          list_versions(folder.name)))
    return out


def _check_label(value: Any, what: str, optional: bool) -> str | None:
    if value is None or (optional and value == ""):
        if optional:
            return None
        raise InvalidInput(f"{what}: expected a non-empty name, got {value!r}")
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what}: expected a non-empty name, got {value!r}")
    return value.strip()


def add_clips(name: str, clips: Iterable[tuple[Any, str, str | None] | dict[str, Any]], *,
              gloss_order: Iterable[str] = ()) -> AddReport:
    """Add many clips, writing the manifest once. Items: ``(frames, gloss, category)`` or dicts with
    ``frames, gloss`` and optional ``category, split, source``. New glosses are appended in
    ``gloss_order`` (e.g. a label file's order) where it names them, else in order of appearance.

    All clips are checked before anything is written (InvalidInput naming the clip). A clip whose
    frames the dataset already holds is a duplicate: nothing is written, it is listed in the
    report (Conflict if it was given a different gloss or category).
    """
    manifest = load_manifest(name)
    layout = get_layout(manifest["layout"])
    folder = dataset_dir(name)
    items = []
    for n, item in enumerate(clips):
        if not isinstance(item, dict):
            frames, gloss, category = item
            item = {"frames": frames, "gloss": gloss, "category": category}
        source = str(item.get("source") or f"clip {n}")
        frames = check_clip(item["frames"], layout, what=source)
        gloss = _check_label(item.get("gloss"), f"{source} gloss", optional=False)
        category = _check_label(item.get("category"), f"{source} category", optional=True)
        split = item.get("split")
        if split is not None and split not in SPLITS:
            raise InvalidInput(f"{source} split {split!r}: expected one of {', '.join(SPLITS)} or none")
        items.append((frames, gloss, category, split, source))
    by_id = {c["id"]: c for c in manifest["clips"]}
    incoming = {gloss for _, gloss, _, _, _ in items}
    for gloss in gloss_order:
        if gloss in incoming and gloss not in manifest["glosses"]:
            manifest["glosses"].append(gloss)
    report = AddReport()
    new: list[tuple[np.ndarray, dict[str, Any]]] = []
    for frames, gloss, category, split, source in items:  # decide everything before writing anything
        cid = clip_id(frames)
        report.ids.append(cid)
        if cid in by_id:
            known = by_id[cid]
            if known["gloss"] != gloss or (known["category"] or None) != category:
                raise Conflict(f"{source}: the same frames are already clip {cid[:12]} labelled "
                               f"{known['gloss']!r}/{known['category']!r}, not {gloss!r}/{category!r}")
            report.duplicates.append(f"{source} (same frames as clip {cid[:12]}, {known['source']})")
            continue
        entry = {"id": cid, "gloss": gloss, "category": category, "split": split or default_split(cid),
                 "frames": int(frames.shape[0]), "source": source}
        by_id[cid] = entry
        new.append((frames, entry))
    for frames, entry in new:
        path = folder / "clips" / f"{entry['id']}.npz"
        if not path.is_file():
            _write_clip(path, frames, entry["gloss"], entry["category"], entry["source"])
        manifest["clips"].append(entry)
        if entry["gloss"] not in manifest["glosses"]:
            manifest["glosses"].append(entry["gloss"])
        if entry["category"] is not None and entry["category"] not in manifest["categories"]:
            manifest["categories"].append(entry["category"])
    report.added = len(new)
    if new:
        _write_json(folder / "manifest.json", manifest)
    return report


def add_clip(name: str, frames: Any, gloss: str, category: str | None = None, split: str | None = None,
             source: str = "") -> str:
    """Add one ``(T, D)`` clip; returns its id (the existing id when the frames are a duplicate)."""
    item = {"frames": frames, "gloss": gloss, "category": category, "split": split, "source": source or "add_clip"}
    return add_clips(name, [item]).ids[0]


def declare_classes(name: str, glosses: Iterable[str] = (), categories: Iterable[str] = ()) -> None:
    """Fix the order of glosses / categories before clips arrive (e.g. a label file's order).
    Names already known keep their place; versions only list the ones that have clips."""
    manifest = load_manifest(name)
    changed = False
    for key, names in (("glosses", glosses), ("categories", categories)):
        for value in names:
            value = _check_label(value, key, optional=False)
            if value not in manifest[key]:
                manifest[key].append(value)
                changed = True
    if changed:
        _write_json(dataset_dir(name) / "manifest.json", manifest)


# ---- versions --------------------------------------------------------------------------------

def list_versions(name: str) -> list[int]:
    folder = dataset_dir(name) / "versions"
    found = [int(m.group(1)) for p in (folder.iterdir() if folder.is_dir() else [])
             if (m := re.fullmatch(r"v(\d+)\.json", p.name))]
    return sorted(found)


_CONTENT_KEYS = ("layout", "glosses", "categories", "clips")  # what a training run reads from a version


def snapshot(name: str, note: str = "", *, reuse: bool = True) -> int:
    """Freeze the live dataset as the next version; returns its number (InvalidInput when empty).
    With ``reuse`` (the default), when the layout, glosses, categories and clips equal the latest
    version's, that version's number comes back and nothing is written."""
    manifest = load_manifest(name)
    if not manifest["clips"]:
        raise InvalidInput(f"keypoint dataset {name!r} has no clips; add some before taking a snapshot")
    used_glosses = {c["gloss"] for c in manifest["clips"]}
    used_categories = {c["category"] for c in manifest["clips"] if c["category"]}
    content = {"layout": manifest["layout"], "glosses": [g for g in manifest["glosses"] if g in used_glosses],
               "categories": [c for c in manifest["categories"] if c in used_categories], "clips": manifest["clips"]}
    versions = list_versions(name)
    if reuse and versions:
        latest = _read_json(dataset_dir(name) / "versions" / f"v{versions[-1]}.json",
                            f"keypoint dataset {data_version(name, versions[-1])}")
        if all(latest.get(k) == content[k] for k in _CONTENT_KEYS):
            return versions[-1]
    for attempt in range(5):
        version = (list_versions(name) or [0])[-1] + 1
        data = {"format": FORMAT, "name": name, "version": version, "note": note, "created": _now(), **content}
        try:
            _write_json(dataset_dir(name) / "versions" / f"v{version}.json", data, exclusive=True)
            return version
        except Conflict:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def version_info(name: str, version: int) -> KeypointVersion:
    """Version ``version`` of dataset ``name`` with its layout, classes and clips."""
    path = dataset_dir(name) / "versions" / f"v{version}.json"
    if not path.is_file():
        load_manifest(name)  # NotFound naming the datasets when the dataset itself is missing
        known = data_versions(list_versions(name)).replace("none", "none (take one with `studio keypoints snapshot`)")
        raise NotFound(f"keypoint dataset {name!r} has no version {version} (data v{version}); versions: {known}")
    data = _read_json(path, f"keypoint dataset {data_version(name, version)}")
    clips_dir = dataset_dir(name) / "clips"
    clips = [Clip(c["id"], c["gloss"], c.get("category") or None, c["split"], int(c["frames"]), c.get("source", ""),
                  clips_dir / f"{c['id']}.npz") for c in data["clips"]]
    return KeypointVersion(name, int(data["version"]), data.get("note", ""), data.get("created", ""),
                           get_layout(data["layout"]), list(data["glosses"]), list(data["categories"]), clips)


# shared with the raw-frame clip store (studio.frame_clips): one way to name, write, read and split
check_dataset_name, write_json, read_json, check_label, utc_now = _check_name, _write_json, _read_json, _check_label, _now


def load_version(name: str, version: int) -> list[Clip]:
    """The clips of version ``version`` (see ``version_info`` for its layout and classes)."""
    return version_info(name, version).clips
