"""MediaPipe Holistic keypoints, the most common public format of sign-language keypoints, mapped
onto the studio's layouts (studio.keypoints.layout).

The format
----------
One frame is a flat vector of **1662** float values (what ``extract_keypoints`` in the popular
Holistic tutorials writes with ``np.save``):

========  =========  ======================================================  ============
offset    values     landmarks                                               per landmark
========  =========  ======================================================  ============
0         132        pose, 33 (MediaPipe Pose order)                         x, y, z, visibility
132       1404       face, 468 (face mesh)                                   x, y, z
1536      63         left hand, 21 (MediaPipe Hands order)                   x, y, z
1599      63         right hand, 21                                          x, y, z
========  =========  ======================================================  ============

x, y are in [0, 1] of the image width / height and z a relative depth, as MediaPipe gives them;
a part MediaPipe did not detect in a frame is **all zeros** (the missing-part rule).

Two ways to store a clip, both read by :func:`holistic_clips`:

- per-frame files: ``ROOT/<sign>/<sequence>/<frame>.npy``, each a (1662,) array, frames
  numbered 0, 1, 2 ... (or from 1) without gaps or repeats;
- one array per clip: ``ROOT/<sign>/<sequence>.npy`` holding (T, 1662).

Mapping onto a layout
---------------------
:func:`to_layout` turns (T, 1662) into the layout's (T, D) frame vectors exactly as
:func:`studio.keypoints.layout.frame_vector` does for live MediaPipe output (the same
normalisation, shoulders or image), vectorised over the frames: the left and right hands go to
the hand slots, pose landmarks (x, y, z; visibility is dropped) to the pose slots the layout has,
the face mesh is not used by the presets. A part that is all zeros in a frame is absent there:
its slots stay zero (and a frame without pose uses the image reference), so missing hands read
the same as in clips recorded by the studio.

Bad input is refused with the file (and frame) named: a vector that is not 1662 long, frame
files whose names are not numbers, numbering with gaps or repeats, NaN or infinite values,
empty sequences.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import InvalidInput
from studio.keypoints.layout import (
    IMAGE_CENTRE,
    IMAGE_SCALE,
    MIN_SHOULDER_WIDTH,
    VALUES_PER_LANDMARK,
    KeypointLayout,
    get_layout,
)

HOLISTIC_DIM = 1662
POSE = slice(0, 132)  # 33 x (x, y, z, visibility)
FACE = slice(132, 1536)  # 468 x (x, y, z)
LEFT_HAND = slice(1536, 1599)  # 21 x (x, y, z)
RIGHT_HAND = slice(1599, 1662)  # 21 x (x, y, z)
_FRAME_NAME = re.compile(r"(\d+)\.npy", re.IGNORECASE)


def parts(frames: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(T, 1662) -> {"pose" | "left_hand" | "right_hand": (points (T, n, 3) float64, present (T,) bool)}."""
    frames = np.asarray(frames, dtype=np.float64)
    pose = frames[:, POSE].reshape(len(frames), 33, 4)
    out = {"pose": pose[..., :3], "left_hand": frames[:, LEFT_HAND].reshape(len(frames), 21, 3),
           "right_hand": frames[:, RIGHT_HAND].reshape(len(frames), 21, 3)}
    blocks = {"pose": pose, "left_hand": out["left_hand"], "right_hand": out["right_hand"]}
    return {name: (points, np.abs(blocks[name]).sum(axis=(1, 2)) > 0) for name, points in out.items()}


def to_layout(frames: Any, layout: str | dict[str, Any] | KeypointLayout, what: str = "holistic clip") -> np.ndarray:
    """(T, 1662) Holistic frames -> (T, D) float32 frame vectors of ``layout`` (see the module docstring)."""
    layout = get_layout(layout)
    frames = check_holistic(frames, what)
    steps = len(frames)
    found = parts(frames)
    pose, pose_present = found["pose"]
    centre = np.tile(np.asarray(IMAGE_CENTRE, np.float64), (steps, 1))
    scale = np.full(steps, IMAGE_SCALE, np.float64)
    if layout.normalise == "shoulders":
        use = pose_present
        left, right = pose[:, 11, :2], pose[:, 12, :2]
        centre[use] = ((left + right) / 2)[use]
        scale[use] = np.maximum(np.linalg.norm(left - right, axis=1), MIN_SHOULDER_WIDTH)[use]
    out = np.zeros((steps, len(layout.landmarks), VALUES_PER_LANDMARK), np.float64)
    for source, (points, present) in found.items():
        where, indices = layout.positions(source)
        if not where:
            continue
        chosen = points[:, indices]  # (T, n, 3)
        block = np.empty_like(chosen)
        block[..., :2] = (chosen[..., :2] - centre[:, None, :]) / scale[:, None, None]
        block[..., 2] = chosen[..., 2] / scale[:, None]
        block[~present] = 0.0  # the missing-part rule: an undetected part stays zeros
        out[:, where] = block
    return out.reshape(steps, -1).astype(np.float32)


def check_holistic(frames: Any, what: str = "holistic clip") -> np.ndarray:
    """``frames`` as (T, 1662) float32 (T >= 1, finite); InvalidInput naming the expected and actual shape."""
    try:
        array = np.asarray(frames, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what}: expected a (T, {HOLISTIC_DIM}) float array, got {type(frames).__name__} "
                           f"({exc})") from None
    if array.ndim != 2 or array.shape[1] != HOLISTIC_DIM:
        got = array.shape[-1] if array.ndim else 0
        raise InvalidInput(f"{what}: expected (T, {HOLISTIC_DIM}) MediaPipe Holistic values (pose 33x4, face 468x3, "
                           f"hands 2x21x3), got shape {array.shape} ({got} values per frame)")
    if len(array) < 1:
        raise InvalidInput(f"{what}: expected at least one frame, got none")
    if not np.isfinite(array).all():
        bad = int(np.argwhere(~np.isfinite(array))[0][0])
        raise InvalidInput(f"{what}: expected finite values, got NaN or inf in frame {bad}")
    return array


# ---- files ---------------------------------------------------------------------------------------

def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a readable .npy array ({str(exc).splitlines()[0][:160]})") from None


def frame_numbers(folder: Path) -> list[tuple[int, Path]]:
    """(number, file) of the ``<frame>.npy`` files of a sequence folder, in frame order. InvalidInput for
    names that are not numbers, repeated numbers (``1.npy`` and ``01.npy``), gaps, or numbering that
    does not start at 0 or 1."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".npy"
                   and not p.name.startswith("."))
    if not files:
        raise InvalidInput(f"{folder}: no frame files; expected <frame>.npy files numbered 0, 1, 2 ...")
    numbered: dict[int, Path] = {}
    for path in files:
        match = _FRAME_NAME.fullmatch(path.name)
        if match is None:
            raise InvalidInput(f"{path}: frame file name {path.name!r} is not a number; expected <frame>.npy "
                               "with frames numbered 0, 1, 2 ...")
        number = int(match.group(1))
        if number in numbered:
            raise InvalidInput(f"{folder}: frame {number} appears twice ({numbered[number].name} and {path.name})")
        numbered[number] = path
    order = sorted(numbered)
    first = order[0]
    if first not in (0, 1):
        raise InvalidInput(f"{folder}: frames start at {first}; expected numbering from 0 (or 1): frames "
                           f"{', '.join(map(str, range(0, first)[:5]))} are missing")
    missing = sorted(set(range(first, order[-1] + 1)) - set(order))
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InvalidInput(f"{folder}: frame numbering has gaps: missing {shown} (between {first} and {order[-1]})")
    return [(n, numbered[n]) for n in order]


def read_sequence_folder(folder: Path) -> np.ndarray:
    """``<sequence>/<frame>.npy`` files -> (T, 1662) float32 (see :func:`frame_numbers`)."""
    rows = []
    for number, path in frame_numbers(Path(folder)):
        vector = _load_npy(path)
        if vector.ndim == 2 and vector.shape[0] == 1:
            vector = vector[0]
        if vector.ndim != 1 or vector.shape[0] != HOLISTIC_DIM:
            raise InvalidInput(f"{path}: expected {HOLISTIC_DIM} values (MediaPipe Holistic: pose 33x4, face 468x3, "
                               f"hands 2x21x3), got shape {vector.shape}")
        if not np.isfinite(vector).all():
            raise InvalidInput(f"{path}: expected finite values, got NaN or inf (frame {number})")
        rows.append(vector.astype(np.float32))
    return np.stack(rows)


def read_clip_array(path: Path) -> np.ndarray:
    """A ``<sequence>.npy`` holding (T, 1662) -> (T, 1662) float32."""
    return check_holistic(_load_npy(Path(path)), str(path))


def _sign_folders(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))


def looks_like_holistic(root: Path) -> bool:
    """Whether ``root`` holds Holistic clips: ``<sign>/<sequence>/*.npy`` folders, or ``<sign>/*.npy``
    arrays whose last axis is 1662 (read from the .npy header only)."""
    for sign in _sign_folders(root):
        for entry in sorted(sign.iterdir()):
            if entry.is_dir() and any(p.suffix.lower() == ".npy" for p in entry.iterdir()):
                return True
            if entry.is_file() and entry.suffix.lower() == ".npy":
                try:
                    shape = np.load(entry, mmap_mode="r", allow_pickle=False).shape
                except (OSError, ValueError):
                    return False
                return len(shape) == 2 and shape[1] == HOLISTIC_DIM
    return False


def holistic_clips(root: Path, layout: str | dict[str, Any] | KeypointLayout) -> list[dict[str, Any]]:
    """Clips (dicts for ``add_clips``: frames in ``layout``, gloss = the sign folder's name, source =
    ``<sign>/<sequence>``) from a Holistic folder (see the module docstring). Every clip is read and
    checked before any is returned."""
    root = Path(root)
    out = []
    for sign in _sign_folders(root):
        for entry in sorted(sign.iterdir(), key=lambda p: (_natural(p.stem), p.name)):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                frames = read_sequence_folder(entry)
            elif entry.is_file() and entry.suffix.lower() == ".npy":
                frames = read_clip_array(entry)
            else:
                continue
            source = f"{sign.name}/{entry.name}"
            out.append({"frames": to_layout(frames, layout, source), "gloss": sign.name, "category": None,
                        "source": source})
    if not out:
        raise InvalidInput(f"{root}: no Holistic sequences; expected {root}/<sign>/<sequence>/<frame>.npy "
                           f"({HOLISTIC_DIM} values each) or {root}/<sign>/<sequence>.npy (T, {HOLISTIC_DIM})")
    return out


def _natural(stem: str) -> tuple[int, int | str]:
    """Sequence folders in numeric order when they are numbers (0, 1, ... 10), else by name."""
    return (0, int(stem)) if stem.isdigit() else (1, stem)


__all__ = ["HOLISTIC_DIM", "check_holistic", "frame_numbers", "holistic_clips", "looks_like_holistic", "parts",
           "read_clip_array", "read_sequence_folder", "to_layout"]
