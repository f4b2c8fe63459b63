"""Import keypoint clips from files into a keypoint dataset (studio.keypoints.dataset).

Formats
-------
``keypoint`` -- MediaPipe hand-gesture CSV (kinivi/hand-gesture-recognition-mediapipe
    ``keypoint.csv``): one row per static hand pose, ``label_id, x0, y0, ..., x20, y20``: the 21
    hand landmarks in 2D, relative to the wrist and divided by the largest ``|value|`` (so in
    [-1, 1]). Each row becomes a short *static* clip (``static_frames`` equal frames) of one hand
    (``hand``, default right): landmark ``i`` at ``(x_i, y_i) * hand_size`` in layout units, wrist
    at the layout's origin, z = 0. Every other slot (the other hand, the pose) is zero (absent).
``point_history`` -- the same project's ``point_history.csv``: ``label_id`` then 16 frames of
    ``(dx, dy)``, the index fingertip relative to its first position in fractions of the image
    width / height. Each row becomes a 16-frame clip in which a pointing hand (index finger out,
    ``hand_size`` from wrist to middle knuckle) moves so that its index fingertip (landmark 8)
    is at ``(dx, dy) / 0.5`` -- the image reference of studio.keypoints.layout, where the image
    spans [-1, 1] -- starting at the layout's origin. For shoulder-normalised layouts these are
    still image units (the recordings have no pose to measure shoulders with).
``clips`` -- one file per clip: ``ROOT/<gloss>/<anything>.csv|.npy|.npz`` holding a (T, D) array
    already in the dataset's layout (CSV: T rows of D numbers, an optional header line; NPZ: the
    array ``frames`` or its only array). An optional ``ROOT/categories.csv`` maps ``gloss,category``.
``holistic`` -- MediaPipe Holistic keypoints (studio.keypoints.holistic): ``ROOT/<sign>/<sequence>/
    <frame>.npy`` files of 1662 values, or ``ROOT/<sign>/<sequence>.npy`` arrays of (T, 1662),
    mapped onto the dataset's layout (hands_pose156 for a new dataset) with the missing-part rule.
    Auto-detected: a folder of sequence folders, or of .npy arrays 1662 values wide.

Label names come from the label CSV that goes with the data (``keypoint_classifier_label.csv``
style: one name per line, row k = label id k; a UTF-8 BOM is fine). Without one, glosses are
named ``class_<id>``. Bad rows raise InvalidInput naming ``file:line``; nothing is added
unless every row of the file is good.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import InvalidInput, NotFound
from studio.keypoints.dataset import (AddReport, add_clips, create_keypoint_dataset, dataset_dir, dataset_layout,
                                     load_manifest)
from studio.keypoints.layout import (HANDS126, HANDS_POSE156, IMAGE_SCALE, KeypointLayout, check_clip, get_layout,
                                     layout_for_dim)
from studio.keypoints.synthetic import HANDSHAPES

KINDS = ("auto", "keypoint", "point_history", "clips", "holistic")
KEYPOINT_VALUES = 42  # 21 landmarks x (x, y)
HISTORY_FRAMES = 16
CLIP_SUFFIXES = (".csv", ".npy", ".npz")
HAND_SIZE = 0.5  # layout units from wrist to the farthest landmark (keypoint) / to the middle MCP (point history)


@dataclass
class ImportReport:
    dataset: str
    kind: str
    files: list[str]
    rows: int  # clips read from the files
    added: int
    duplicates: list[str]
    glosses: list[str]  # in the dataset's order, after the import


# ---- readers ---------------------------------------------------------------------------------

def read_labels(path: Path) -> list[str]:
    """Label names, one per line (line k = label id k); a UTF-8 BOM and CRLF are fine."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not a readable UTF-8 label file ({exc})") from None
    names = []
    for line_no, line in enumerate(text.splitlines(), 1):
        name = line.strip()
        if not name:
            continue
        if name in names:
            raise InvalidInput(f"{path}:{line_no}: label {name!r} is listed twice")
        names.append(name)
    if not names:
        raise InvalidInput(f"{path}: no label names; expected one name per line")
    return names


def _numeric_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            for line_no, row in enumerate(csv.reader(f), 1):
                if row and any(cell.strip() for cell in row):
                    yield line_no, row
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: not a readable CSV file ({exc})") from None


def _parse_row(path: Path, line_no: int, row: list[str], values: int, what: str) -> tuple[int, np.ndarray]:
    if len(row) != values + 1:
        raise InvalidInput(f"{path}:{line_no}: expected {values + 1} fields (label id + {what}), got {len(row)}")
    try:
        label = int(row[0])
    except ValueError:
        raise InvalidInput(f"{path}:{line_no}: expected an integer label id first, got {row[0]!r}") from None
    if label < 0:
        raise InvalidInput(f"{path}:{line_no}: expected a label id >= 0, got {label}")
    try:
        numbers = np.array([float(v) for v in row[1:]], dtype=np.float64)
    except ValueError as exc:
        raise InvalidInput(f"{path}:{line_no}: expected {values} numbers after the label id ({exc})") from None
    if not np.isfinite(numbers).all():
        raise InvalidInput(f"{path}:{line_no}: expected finite numbers, got NaN or inf")
    return label, numbers


def read_keypoint_csv(path: Path) -> list[tuple[int, np.ndarray, int]]:
    """``(label id, (21, 2) wrist-relative xy, line)`` per row of a MediaPipe keypoint CSV."""
    return [(label, numbers.reshape(21, 2), line_no) for line_no, row in _numeric_rows(path)
            for label, numbers in [_parse_row(Path(path), line_no, row, KEYPOINT_VALUES, "21 x (x, y)")]]


def read_point_history_csv(path: Path) -> list[tuple[int, np.ndarray, int]]:
    """``(label id, (16, 2) fingertip dx, dy, line)`` per row of a MediaPipe point-history CSV."""
    return [(label, numbers.reshape(HISTORY_FRAMES, 2), line_no) for line_no, row in _numeric_rows(path)
            for label, numbers in [_parse_row(Path(path), line_no, row, 2 * HISTORY_FRAMES, "16 x (dx, dy)")]]


# ---- conversions into a layout ----------------------------------------------------------------

def _hand_slots(layout: KeypointLayout, hand: str) -> tuple[list[int], list[int]]:
    if hand not in ("left", "right"):
        raise InvalidInput(f"hand {hand!r}: expected 'left' or 'right'")
    where, indices = layout.positions(f"{hand}_hand")
    if not where:
        raise InvalidInput(f"layout {layout.name} has no {hand} hand landmarks to put the imported hand in")
    return where, indices


def hand_pose_clip(points: np.ndarray, layout: str | KeypointLayout, hand: str = "right", frames: int = 8,
                   hand_size: float = HAND_SIZE) -> np.ndarray:
    """A static ``(frames, D)`` clip of one hand from ``(21, 2|3)`` wrist-relative points in [-1, 1]."""
    layout = get_layout(layout)
    where, indices = _hand_slots(layout, hand)
    points = np.asarray(points, dtype=np.float64)
    frame = np.zeros((len(layout.landmarks), 3))
    frame[where, : points.shape[1]] = points[indices] * hand_size
    return np.repeat(frame.reshape(1, -1), frames, axis=0).astype(np.float32)


def fingertip_path_clip(path: np.ndarray, layout: str | KeypointLayout, hand: str = "right",
                        hand_size: float = 0.5 * HAND_SIZE) -> np.ndarray:
    """A ``(T, D)`` clip of a pointing hand whose index fingertip follows ``path`` ((T, 2), image fractions
    relative to the first position)."""
    layout = get_layout(layout)
    where, indices = _hand_slots(layout, hand)
    shape = HANDSHAPES["point"] * hand_size * (np.array([-1.0, 1.0]) if hand == "left" else 1.0)
    shape = shape - shape[8]  # fingertip at the origin
    tips = np.asarray(path, dtype=np.float64) / IMAGE_SCALE
    out = np.zeros((len(tips), len(layout.landmarks), 3))
    out[:, where, :2] = shape[indices][None] + tips[:, None, :]
    return out.reshape(len(tips), -1).astype(np.float32)


def _names(labels: list[str] | None, label: int, path: Path, line_no: int) -> str:
    if labels is None:
        return f"class_{label}"
    if label >= len(labels):
        raise InvalidInput(f"{path}:{line_no}: label id {label} has no name; the label file lists "
                           f"{len(labels)} (ids 0..{len(labels) - 1})")
    return labels[label]


def keypoint_csv_clips(path: Path, layout: str | KeypointLayout, labels: list[str] | None = None,
                       hand: str = "right", static_frames: int = 8) -> list[dict[str, Any]]:
    """Clips (dicts for ``add_clips``) from a MediaPipe keypoint CSV (see the module docstring)."""
    path = Path(path)
    return [{"frames": hand_pose_clip(points, layout, hand, static_frames), "gloss": _names(labels, label, path, n),
             "category": None, "source": f"{path.name}:{n}"} for label, points, n in read_keypoint_csv(path)]


def point_history_clips(path: Path, layout: str | KeypointLayout, labels: list[str] | None = None,
                        hand: str = "right") -> list[dict[str, Any]]:
    """Clips (dicts for ``add_clips``) from a MediaPipe point-history CSV (see the module docstring)."""
    path = Path(path)
    return [{"frames": fingertip_path_clip(track, layout, hand), "gloss": _names(labels, label, path, n),
             "category": None, "source": f"{path.name}:{n}"} for label, track, n in read_point_history_csv(path)]


def _read_clip_file(path: Path, layout: KeypointLayout | None) -> np.ndarray:
    """A (T, D) clip file; D must be the layout's (any D when ``layout`` is None)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                keys = list(data.keys())
                if "frames" not in keys and len(keys) != 1:
                    raise InvalidInput(f"{path}: expected an array named 'frames' (or a single array), got {keys}")
                array = data["frames" if "frames" in keys else keys[0]]
        else:
            rows = list(_numeric_rows(path))
            if rows:
                try:
                    [float(v) for v in rows[0][1]]
                except ValueError:
                    rows = rows[1:]  # a header line
            dim = layout.dim if layout is not None else (len(rows[0][1]) if rows else 0)
            parsed = []
            for line_no, row in rows:
                if len(row) != dim:
                    raise InvalidInput(f"{path}:{line_no}: expected {dim} numbers per frame"
                                       + (f" for layout {layout.name}" if layout else "") + f", got {len(row)}")
                try:
                    parsed.append([float(v) for v in row])
                except ValueError as exc:
                    raise InvalidInput(f"{path}:{line_no}: expected numbers ({exc})") from None
            array = np.array(parsed, dtype=np.float32).reshape(-1, dim)
    except InvalidInput:
        raise
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a readable (T, D) array ({exc})") from None
    return check_clip(array, layout, what=str(path))


def clip_files(root: Path, layout: str | KeypointLayout | None = None) -> list[dict[str, Any]]:
    """Clips from ``root/<gloss>/*.csv|npy|npz`` (+ optional ``root/categories.csv``: gloss,category).

    ``layout`` None: the preset of the first clip's D (``layout_for_dim``); every clip must match it.
    """
    root = Path(root)
    layout = get_layout(layout) if layout is not None else None
    categories: dict[str, str] = {}
    table = root / "categories.csv"
    if table.is_file():
        for line_no, row in _numeric_rows(table):
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise InvalidInput(f"{table}:{line_no}: expected 'gloss,category', got {','.join(row)!r}")
            if row[0].strip().lower() == "gloss" and line_no == 1:
                continue
            categories[row[0].strip()] = row[1].strip()
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in CLIP_SUFFIXES):
            frames = _read_clip_file(path, layout)
            if layout is None:
                layout = layout_for_dim(frames.shape[1])
                frames = check_clip(frames, layout, what=str(path))
            out.append({"frames": frames, "gloss": folder.name,
                        "category": categories.get(folder.name), "source": f"{folder.name}/{path.name}"})
    if not out:
        raise InvalidInput(f"{root}: no clip files; expected {root}/<gloss>/<clip>.csv|.npy|.npz")
    return out


# ---- detection and the one entry point ---------------------------------------------------------

def detect_kind(path: Path) -> str:
    """keypoint | point_history | clips | holistic, from the number of fields of a CSV's first row,
    or a folder's shape (Holistic: sequence folders of .npy frames, or .npy arrays 1662 wide)."""
    from studio.keypoints.holistic import looks_like_holistic

    path = Path(path)
    if path.is_dir():
        return "holistic" if looks_like_holistic(path) else "clips"
    if path.suffix.lower() != ".csv":
        raise InvalidInput(f"{path}: expected a keypoint / point-history CSV or a folder of clips")
    for line_no, row in _numeric_rows(path):
        if len(row) == KEYPOINT_VALUES + 1:
            return "keypoint"
        if len(row) == 2 * HISTORY_FRAMES + 1:
            return "point_history"
        raise InvalidInput(f"{path}:{line_no}: {len(row)} fields; expected {KEYPOINT_VALUES + 1} (keypoint CSV: "
                           f"label + 21 x (x, y)) or {2 * HISTORY_FRAMES + 1} (point history: label + 16 x (dx, dy))")
    raise InvalidInput(f"{path}: empty file")


def find_labels(path: Path, kind: str) -> Path | None:
    """The label CSV beside ``path`` for ``kind`` (``keypoint*label*.csv`` / ``point_history*label*.csv``)."""
    prefix = {"keypoint": "keypoint", "point_history": "point_history"}.get(kind)
    if prefix is None:
        return None
    matches = sorted(p for p in Path(path).parent.glob(f"{prefix}*label*.csv") if p != Path(path))
    return matches[0] if matches else None


def import_path(name: str, path: Path, *, layout: str | dict[str, Any] | KeypointLayout | None = None,
                kind: str = "auto", labels: Path | None = None, hand: str = "right",
                static_frames: int = 8) -> ImportReport:
    """Import ``path`` into keypoint dataset ``name``. A missing dataset is created with ``layout``, or
    by default with hands126 for the MediaPipe CSVs (they hold hands only) and, for clip files, the
    preset of their D (126 or 156). An existing dataset keeps its layout (a different ``layout`` is
    a Conflict).

    kind: auto | keypoint | point_history | clips; labels: the label CSV (auto: found beside ``path``).
    """
    path = Path(path)
    if not path.exists():
        raise NotFound(f"{path} does not exist")
    if kind not in KINDS:
        raise InvalidInput(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "auto":
        kind = detect_kind(path)
    label_path = Path(labels) if labels is not None else find_labels(path, kind)
    names = read_labels(label_path) if label_path is not None else None
    try:
        target: KeypointLayout | None = dataset_layout(name)
        if layout is not None and get_layout(layout) != target:
            create_keypoint_dataset(name, layout)  # raises Conflict naming the existing layout
    except NotFound:  # a new dataset: the layout asked for, else one that fits the data
        target = get_layout(layout) if layout is not None else \
            HANDS126 if kind in ("keypoint", "point_history") else HANDS_POSE156 if kind == "holistic" else None
    if kind == "keypoint":
        clips = keypoint_csv_clips(path, target, names, hand, static_frames)
    elif kind == "point_history":
        clips = point_history_clips(path, target, names, hand)
    elif kind == "holistic":
        from studio.keypoints.holistic import holistic_clips

        if not path.is_dir():
            raise InvalidInput(f"{path}: expected a folder of Holistic sequences (<sign>/<sequence>/<frame>.npy)")
        clips = holistic_clips(path, target)
    else:
        clips = clip_files(path, target)
        target = target or layout_for_dim(clips[0]["frames"].shape[1])
    created = not (dataset_dir(name) / "manifest.json").is_file()
    create_keypoint_dataset(name, target, exist_ok=True)
    try:
        report: AddReport = add_clips(name, clips, gloss_order=names or ())
    except BaseException:
        if created:  # leave nothing half-made behind
            shutil.rmtree(dataset_dir(name), ignore_errors=True)
        raise
    return ImportReport(name, kind, [str(path)] + ([str(label_path)] if label_path else []), len(clips),
                        report.added, report.duplicates, list(load_manifest(name)["glosses"]))
