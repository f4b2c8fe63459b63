"""Clip datasets of raw frames (what the frame-CNN + GRU sign model, ``frame_cnn_gru``, trains on):
clips recorded from the webcam (Teach a sign, :class:`studio.live.frame_recorder.FrameRecorder`) or imported from video files
and frame folders, stored as small uint8 frames, frozen in immutable versions.

Folder ``<settings.data_dir>/frame_clips/<name>/`` (the same shape as a keypoint dataset)::

    manifest.json     {"format", "name", "max_side", "glosses", "categories", "clips": [{id, gloss,
                      category, split, frames, height, width, source}], "created"}
    clips/<id>.npz    frames (T, H, W, 3) uint8 RGB, longest side <= max_side (default 128; smaller
                      clips are kept as they are); id = sha256 of the stored frames and their shape
    versions/vN.json  a frozen copy of the clip list and classes (what training reads)

A snapshot of unchanged clips reuses the latest version. Clips without a split get one from their
id (``val`` for about 20 %), so a clip always lands in the same split. Every file is written to a
temporary name and renamed; a bad clip refuses the whole batch before anything is written.

Import (:func:`import_frames`, ``studio frames import NAME ROOT``): ``ROOT/<gloss>/<clip>.mp4|.avi|
.mov|.mkv|.webm|.m4v`` (decoded with OpenCV), ``ROOT/<gloss>/<clip>/`` folders of frame images
(.jpg/.jpeg/.png/.bmp, in natural order of their names: 2.png before 10.png), or
``ROOT/<gloss>/<clip>.npy|.npz`` arrays (T, H, W, 3) uint8, read by :mod:`studio.frame_files`.
Unreadable videos, empty clips and arrays of another shape are refused with the file named.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.config import get_settings
from studio.errors import Conflict, InvalidInput, NotFound
from studio.frame_files import ARRAY_SUFFIXES, VIDEO_SUFFIXES, check_frames, natural_key, read_clip, shrink
from studio.keypoints.dataset import check_dataset_name, check_label, default_split, read_json, utc_now, write_json
from studio.naming import data_version, data_versions

FORMAT = "studio.frame_clips/1"
CLIP_ARCHITECTURES = ("frame_cnn_gru",)  # sequence nets that read raw frames: they train on these datasets
DEFAULT_MAX_SIDE = 128
SPLITS = ("train", "val", "test")
_CONTENT_KEYS = ("glosses", "categories", "clips")


@dataclass(frozen=True)
class FrameClip:
    id: str
    gloss: str
    category: str | None
    split: str
    frames: int  # T
    source: str
    path: Path  # clips/<id>.npz

    def load(self) -> np.ndarray:
        """(T, H, W, 3) uint8 RGB."""
        try:
            with np.load(self.path, allow_pickle=False) as data:
                return np.asarray(data["frames"], np.uint8)
        except FileNotFoundError:
            raise NotFound(f"clip file {self.path} does not exist") from None
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidInput(f"clip file {self.path}: expected an .npz with 'frames' ({exc})") from None


@dataclass(frozen=True)
class FrameVersion:
    name: str
    version: int
    note: str
    glosses: list[str]
    categories: list[str]
    clips: list[FrameClip]

    def split(self, name: str) -> list[FrameClip]:
        return [c for c in self.clips if c.split == name]

    @property
    def label(self) -> str:
        return data_version(self.name, self.version)


@dataclass
class FrameAddReport:
    ids: list[str]
    added: int
    duplicates: list[str]


# ---- paths and datasets --------------------------------------------------------------------------

def frames_root() -> Path:
    return get_settings().data_dir / "frame_clips"


def dataset_dir(name: str) -> Path:
    return frames_root() / check_dataset_name(name)


def is_frame_dataset(name: str) -> bool:
    try:
        return (dataset_dir(name) / "manifest.json").is_file()
    except InvalidInput:
        return False


def list_frame_datasets() -> list[str]:
    root = frames_root()
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file()) if root.is_dir() else []


def create_frame_dataset(name: str, *, max_side: int = DEFAULT_MAX_SIDE, exist_ok: bool = False) -> Path:
    """An empty clip dataset whose frames are stored at most ``max_side`` pixels on their longest side."""
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 8:
        raise InvalidInput(f"max_side: expected an integer >= 8, got {max_side!r}")
    folder = dataset_dir(name)
    if (folder / "manifest.json").is_file():
        if exist_ok:
            return folder
        raise Conflict(f"frame clip dataset {name!r} already exists")
    write_json(folder / "manifest.json", {"format": FORMAT, "name": name, "max_side": max_side, "glosses": [],
                                          "categories": [], "clips": [], "created": utc_now()})
    return folder


def load_manifest(name: str) -> dict[str, Any]:
    path = dataset_dir(name) / "manifest.json"
    if not path.is_file():
        raise NotFound(f"no frame clip dataset named {name!r}; existing: {', '.join(list_frame_datasets()) or '(none)'}")
    manifest = read_json(path, f"frame clip dataset {name}")
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"{path}: format {manifest.get('format')!r}; expected {FORMAT!r}")
    return manifest


# ---- clips ---------------------------------------------------------------------------------------

def clip_id(frames: np.ndarray) -> str:
    digest = hashlib.sha256("x".join(map(str, frames.shape)).encode() + b":")
    digest.update(np.ascontiguousarray(frames).tobytes())
    return digest.hexdigest()


def _write_clip(path: Path, frames: np.ndarray) -> None:
    import uuid

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp.npz")
    try:
        with tmp.open("wb") as f:
            np.savez_compressed(f, frames=frames)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def add_frame_clips(name: str, items: Iterable[dict[str, Any]]) -> FrameAddReport:
    """Add clips (dicts: ``frames`` (T, H, W, 3) uint8, ``gloss``, optional ``category``, ``split``,
    ``source``), writing the manifest once; all are checked first. A clip whose stored frames the
    dataset already has is a duplicate (reported; a Conflict if its labels differ)."""
    manifest = load_manifest(name)
    max_side = int(manifest["max_side"])
    by_id = {c["id"]: c for c in manifest["clips"]}
    prepared = []
    for n, item in enumerate(items):
        source = str(item.get("source") or f"clip {n}")
        frames = shrink(check_frames(item.get("frames"), source), max_side)
        gloss = check_label(item.get("gloss"), f"{source} gloss", optional=False)
        category = check_label(item.get("category"), f"{source} category", optional=True)
        split = item.get("split")
        if split is not None and split not in SPLITS:
            raise InvalidInput(f"{source} split {split!r}: expected one of {', '.join(SPLITS)} or none")
        prepared.append((frames, gloss, category, split, source))
    report = FrameAddReport([], 0, [])
    new = []
    for frames, gloss, category, split, source in prepared:
        cid = clip_id(frames)
        report.ids.append(cid)
        if cid in by_id:
            known = by_id[cid]
            if known["gloss"] != gloss or (known["category"] or None) != category:
                raise Conflict(f"{source}: the same frames are already clip {cid[:12]} labelled {known['gloss']!r}")
            report.duplicates.append(f"{source} (same frames as clip {cid[:12]}, {known['source']})")
            continue
        entry = {"id": cid, "gloss": gloss, "category": category, "split": split or default_split(cid),
                 "frames": int(frames.shape[0]), "height": int(frames.shape[1]), "width": int(frames.shape[2]),
                 "source": source}
        by_id[cid] = entry
        new.append((frames, entry))
    folder = dataset_dir(name)
    for frames, entry in new:
        path = folder / "clips" / f"{entry['id']}.npz"
        if not path.is_file():
            _write_clip(path, frames)
        manifest["clips"].append(entry)
        if entry["gloss"] not in manifest["glosses"]:
            manifest["glosses"].append(entry["gloss"])
        if entry["category"] and entry["category"] not in manifest["categories"]:
            manifest["categories"].append(entry["category"])
    report.added = len(new)
    if new:
        write_json(folder / "manifest.json", manifest)
    return report


def add_frame_clip(name: str, frames: Any, gloss: str, *, category: str | None = None, split: str | None = None,
                   source: str = "") -> str:
    """Add one clip (the dataset is created when missing); its id."""
    create_frame_dataset(name, exist_ok=True)
    item = {"frames": frames, "gloss": gloss, "category": category, "split": split, "source": source or "recorded"}
    return add_frame_clips(name, [item]).ids[0]


# ---- versions ------------------------------------------------------------------------------------

def list_versions(name: str) -> list[int]:
    folder = dataset_dir(name) / "versions"
    found = [int(m.group(1)) for p in (folder.iterdir() if folder.is_dir() else [])
             if (m := re.fullmatch(r"v(\d+)\.json", p.name))]
    return sorted(found)


def snapshot(name: str, note: str = "", *, reuse: bool = True) -> int:
    """Freeze the clips as the next version (the latest one when nothing changed and ``reuse``); its number."""
    manifest = load_manifest(name)
    if not manifest["clips"]:
        raise InvalidInput(f"frame clip dataset {name!r} has no clips; record or import some first")
    used = {c["gloss"] for c in manifest["clips"]}
    used_categories = {c["category"] for c in manifest["clips"] if c["category"]}
    content = {"glosses": [g for g in manifest["glosses"] if g in used],
               "categories": [c for c in manifest["categories"] if c in used_categories], "clips": manifest["clips"]}
    versions = list_versions(name)
    if reuse and versions:
        latest = read_json(dataset_dir(name) / "versions" / f"v{versions[-1]}.json", data_version(name, versions[-1]))
        if all(latest.get(k) == content[k] for k in _CONTENT_KEYS):
            return versions[-1]
    number = (versions or [0])[-1] + 1
    write_json(dataset_dir(name) / "versions" / f"v{number}.json",
               {"format": FORMAT, "name": name, "version": number, "note": note, "created": utc_now(), **content},
               exclusive=True)
    return number


def version_info(name: str, version: int) -> FrameVersion:
    path = dataset_dir(name) / "versions" / f"v{version}.json"
    if not path.is_file():
        load_manifest(name)
        raise NotFound(f"frame clip dataset {name!r} has no version {version} (data v{version}); versions: "
                       f"{data_versions(list_versions(name))}")
    data = read_json(path, data_version(name, version))
    folder = dataset_dir(name) / "clips"
    clips = [FrameClip(c["id"], c["gloss"], c.get("category") or None, c["split"], int(c["frames"]),
                       c.get("source", ""), folder / f"{c['id']}.npz") for c in data["clips"]]
    return FrameVersion(name, int(data["version"]), data.get("note", ""), list(data["glosses"]),
                        list(data["categories"]), clips)


def import_frames(name: str, root: Path, *, max_side: int = DEFAULT_MAX_SIDE) -> FrameAddReport:
    """Import ``root/<gloss>/<clip>`` (see the module docstring) into clip dataset ``name`` (created
    when missing; removed again if the import fails, so nothing half-made stays)."""
    root = Path(root)
    if not root.is_dir():
        raise NotFound(f"{root} is not a folder; expected {root}/<gloss>/<clip video, frame folder or array>")
    items = []
    for gloss in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for entry in sorted(gloss.iterdir(), key=lambda p: natural_key(p.name)):
            if entry.name.startswith(".") or not (entry.is_dir() or entry.suffix.lower() in
                                                  VIDEO_SUFFIXES + ARRAY_SUFFIXES):
                continue
            items.append({"frames": read_clip(entry), "gloss": gloss.name, "source": f"{gloss.name}/{entry.name}"})
    if not items:
        raise InvalidInput(f"{root}: no clips; expected {root}/<gloss>/<clip>.mp4 (or a frame folder, or .npy)")
    created = not is_frame_dataset(name)
    create_frame_dataset(name, max_side=max_side, exist_ok=True)
    try:
        return add_frame_clips(name, items)
    except BaseException:
        if created:
            shutil.rmtree(dataset_dir(name), ignore_errors=True)
        raise


# ---- Teach a sign with raw frames ------------------------------------------------------------------

def clip_counts(name: str) -> dict[str, int]:
    """Clips per gloss of clip dataset ``name`` ({} when it does not exist)."""
    if not is_frame_dataset(name):
        return {}
    manifest = load_manifest(name)
    return {g: sum(c["gloss"] == g for c in manifest["clips"]) for g in manifest["glosses"]}


def training_config(name: str, version: int, *, epochs: int = 40, image_size: int = 64, **fields: Any) -> Any:
    """The TrainConfig of a raw-frame teach run: frame_cnn_gru, frames at ``image_size``, sequence_length =
    the median clip length (at least 8, so a live window spans what a recorded clip spans), photometric
    and crop augmentation; ``fields`` override any TrainConfig field."""
    from studio.training.config import TrainConfig

    lengths = [c.frames for c in version_info(name, version).clips]
    base = dict(task="sequence", architecture="frame_cnn_gru", backbone="", dataset=name, dataset_version=version,
                sequence_length=max(8, int(np.median(lengths))) if lengths else 16, image_size=image_size,
                epochs=epochs, batch_size=8, lr=3e-3, augment={"color_jitter": 0.2, "scale": 0.85}, num_workers=0)
    return TrainConfig(**{**base, **fields})


def queue_training(name: str, *, epochs: int = 40, min_clips: int = 2, **fields: Any) -> str:
    """Snapshot clip dataset ``name`` and queue a frame_cnn_gru "train" job on it; the job id. InvalidInput
    unless two glosses have ``min_clips`` clips each (nothing is queued)."""
    from studio.jobs import enqueue
    from studio.jobs.kinds import TrainSpec

    counts = clip_counts(name)
    short = {g: n for g, n in counts.items() if n < min_clips}
    if len(counts) < 2 or short:
        detail = ", ".join(f"{g} ({n})" for g, n in short.items()) or f"{len(counts)} sign(s) so far"
        raise InvalidInput(f"training needs at least 2 signs with at least {min_clips} clips each; {detail}")
    version = snapshot(name, note="teach a sign (raw frames)")
    return enqueue(TrainSpec(config=training_config(name, version, epochs=epochs, **fields)))


__all__ = ["CLIP_ARCHITECTURES", "FrameClip", "FrameVersion", "add_frame_clip", "add_frame_clips",
           "clip_counts", "create_frame_dataset", "import_frames", "is_frame_dataset", "list_frame_datasets",
           "queue_training", "snapshot", "training_config", "version_info"]
