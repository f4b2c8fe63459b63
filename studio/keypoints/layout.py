"""Keypoint layouts: which landmarks a frame vector holds, in which order, and how they are normalised.

A layout turns one video frame's MediaPipe output into a fixed ``(D,)`` float32 vector, so a
clip is a ``(T, D)`` array and a batch is ``(B, T, D)`` for the sequence nets
(studio/nets/sequence.py). Every landmark takes 3 values, ``x, y, z``, so ``D = 3 * landmarks``.

Presets
-------
``hands126`` (D = 126)
    left hand landmarks 0..20, then right hand landmarks 0..20 (MediaPipe Hands order: 0 wrist,
    1-4 thumb CMC/MCP/IP/tip, 5-8 index MCP/PIP/DIP/tip, 9-12 middle, 13-16 ring, 17-20 pinky).
``hands_pose156`` (D = 156)
    ``hands126`` followed by 10 of MediaPipe Pose's 33 landmarks, the upper-body points signs are
    made against: 2 left eye, 5 right eye, 9 mouth left, 10 mouth right, 11 left shoulder,
    12 right shoulder, 13 left elbow, 14 right elbow, 15 left wrist, 16 right wrist (in that order).
    Eyes and mouth corners rather than the nose: they keep 10 points symmetric and mark the
    face regions (eyes, mouth, chin below) that place many signs; the nose lies between them.

"left" and "right" are the handedness MediaPipe reports for the hand (on a mirrored selfie view
that is the signer's own hand); :func:`frame_vector` takes whatever it is given under those keys.

Normalisation (one reference per frame: a centre ``c = (cx, cy)`` and a scale ``s``)
------------------------------------------------------------------------------------
MediaPipe gives ``x, y`` in [0, 1] of the image width / height (y down) and ``z`` as a relative
depth in roughly the units of ``x``. Every landmark becomes
``((x - cx) / s, (y - cy) / s, z / s)``.

- ``"shoulders"`` (``hands_pose156``): ``c`` = the midpoint of pose landmarks 11 and 12,
  ``s`` = their distance (at least 1e-3). Signs then read the same wherever the signer stands
  and however far from the camera. Frames without a pose fall back to the image reference.
- ``"image"`` (``hands126`` and the fallback): ``c = (0.5, 0.5)``, ``s = 0.5``: the image spans
  [-1, 1] in x and y.

Missing parts: a hand MediaPipe did not see (or a missing pose) is a block of zeros in its
slots, so D stays exactly 126 / 156. A present hand never normalises to all zeros, so
:func:`present` can tell the two apart. Non-finite input values are refused.

Custom layouts: ``KeypointLayout.from_dict({"name": ..., "landmarks": [[source, index, name],
...], "normalise": "image" | "shoulders"})`` with sources ``left_hand``, ``right_hand`` (index
0..20) and ``pose`` (index 0..32).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from studio.errors import InvalidInput

HAND_LANDMARKS = ("wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
                  "index_mcp", "index_pip", "index_dip", "index_tip",
                  "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
                  "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
                  "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip")
POSE_LANDMARKS = ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
                  "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
                  "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
                  "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
                  "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
                  "left_foot_index", "right_foot_index")
SOURCES = {"left_hand": len(HAND_LANDMARKS), "right_hand": len(HAND_LANDMARKS), "pose": len(POSE_LANDMARKS)}
NORMALISATIONS = ("image", "shoulders")
VALUES_PER_LANDMARK = 3  # x, y, z
UPPER_BODY_POSE = (2, 5, 9, 10, 11, 12, 13, 14, 15, 16)  # the 10 pose landmarks of hands_pose156
IMAGE_CENTRE, IMAGE_SCALE = (0.5, 0.5), 0.5
MIN_SHOULDER_WIDTH = 1e-3


@dataclass(frozen=True)
class Landmark:
    source: str  # left_hand | right_hand | pose
    index: int  # MediaPipe's landmark index within its source
    name: str


@dataclass(frozen=True)
class KeypointLayout:
    """An ordered list of landmarks (3 values each) and the per-frame normalisation."""

    name: str
    landmarks: tuple[Landmark, ...]
    normalise: str = "image"  # image | shoulders (see the module docstring)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise InvalidInput(f"layout name: expected a non-empty string, got {self.name!r}")
        if not self.landmarks:
            raise InvalidInput(f"layout {self.name}: expected at least one landmark")
        if self.normalise not in NORMALISATIONS:
            raise InvalidInput(f"layout {self.name}: normalise {self.normalise!r}; expected one of "
                               f"{', '.join(NORMALISATIONS)}")
        seen = set()
        for lm in self.landmarks:
            if lm.source not in SOURCES:
                raise InvalidInput(f"layout {self.name}: landmark source {lm.source!r}; expected one of "
                                   f"{', '.join(SOURCES)}")
            if isinstance(lm.index, bool) or not isinstance(lm.index, int) or not 0 <= lm.index < SOURCES[lm.source]:
                raise InvalidInput(f"layout {self.name}: {lm.source} index {lm.index!r}; expected 0.."
                                   f"{SOURCES[lm.source] - 1}")
            if (lm.source, lm.index) in seen:
                raise InvalidInput(f"layout {self.name}: {lm.source} landmark {lm.index} is listed twice")
            seen.add((lm.source, lm.index))

    @property
    def dim(self) -> int:
        """Values per frame: 3 (x, y, z) per landmark."""
        return VALUES_PER_LANDMARK * len(self.landmarks)

    def slots(self, source: str, index: int) -> slice | None:
        """The slice of a frame vector holding (x, y, z) of ``source`` landmark ``index`` (None if absent)."""
        for k, lm in enumerate(self.landmarks):
            if lm.source == source and lm.index == index:
                return slice(VALUES_PER_LANDMARK * k, VALUES_PER_LANDMARK * (k + 1))
        return None

    def positions(self, source: str) -> tuple[list[int], list[int]]:
        """(positions in the layout, landmark indices in the source) of every landmark of ``source``."""
        pairs = [(k, lm.index) for k, lm in enumerate(self.landmarks) if lm.source == source]
        return [k for k, _ in pairs], [i for _, i in pairs]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "normalise": self.normalise, "dim": self.dim,
                "landmarks": [[lm.source, lm.index, lm.name] for lm in self.landmarks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeypointLayout:
        """A layout from ``{"name", "landmarks": [[source, index, name?], ...], "normalise"?}``."""
        if not isinstance(data, Mapping) or "name" not in data or "landmarks" not in data:
            raise InvalidInput(f"layout: expected a mapping with 'name' and 'landmarks', got {data!r:.200}")
        landmarks = []
        for entry in data["landmarks"]:
            if isinstance(entry, Mapping):
                source, index, name = entry.get("source"), entry.get("index"), entry.get("name")
            elif isinstance(entry, (list, tuple)) and len(entry) in (2, 3):
                source, index, name = entry[0], entry[1], (entry[2] if len(entry) == 3 else None)
            else:
                raise InvalidInput(f"layout {data['name']}: landmark {entry!r}; expected [source, index, name]")
            if source in SOURCES and isinstance(index, int) and 0 <= index < SOURCES[source]:
                name = name or _default_name(source, index)
            landmarks.append(Landmark(source, index, str(name)))
        layout = cls(str(data["name"]), tuple(landmarks), data.get("normalise", "image"))
        if "dim" in data and data["dim"] != layout.dim:
            raise InvalidInput(f"layout {layout.name}: dim {data['dim']} does not match its "
                               f"{len(landmarks)} landmarks x 3 = {layout.dim}")
        return layout


def _default_name(source: str, index: int) -> str:
    if source == "pose":
        return POSE_LANDMARKS[index]
    return f"{source.split('_')[0]}_{HAND_LANDMARKS[index]}"


def _hand_landmarks(side: str) -> list[Landmark]:
    return [Landmark(f"{side}_hand", i, f"{side}_{n}") for i, n in enumerate(HAND_LANDMARKS)]


HANDS126 = KeypointLayout("hands126", tuple(_hand_landmarks("left") + _hand_landmarks("right")), "image")
HANDS_POSE156 = KeypointLayout(
    "hands_pose156",
    HANDS126.landmarks + tuple(Landmark("pose", i, POSE_LANDMARKS[i]) for i in UPPER_BODY_POSE),
    "shoulders")
PRESETS: dict[str, KeypointLayout] = {HANDS126.name: HANDS126, HANDS_POSE156.name: HANDS_POSE156}


def get_layout(layout: str | Mapping[str, Any] | KeypointLayout) -> KeypointLayout:
    """A preset by name, a layout dict (``KeypointLayout.from_dict``) or a layout itself."""
    if isinstance(layout, KeypointLayout):
        return layout
    if isinstance(layout, str):
        if layout not in PRESETS:
            raise InvalidInput(f"unknown keypoint layout {layout!r}; expected one of {', '.join(PRESETS)} "
                               "or a custom layout dict")
        return PRESETS[layout]
    if isinstance(layout, Mapping):
        if "landmarks" not in layout:
            return get_layout(str(layout.get("name")))
        custom = KeypointLayout.from_dict(layout)
        if custom.name in PRESETS and custom != PRESETS[custom.name]:
            raise InvalidInput(f"layout {custom.name!r} is a preset name; give a custom layout another name")
        return PRESETS.get(custom.name, custom)
    raise InvalidInput(f"layout: expected a preset name, a dict or a KeypointLayout, got {type(layout).__name__}")


def layout_for_dim(dim: int) -> KeypointLayout:
    """The preset whose frame vector has ``dim`` values (126 -> hands126, 156 -> hands_pose156)."""
    for layout in PRESETS.values():
        if layout.dim == dim:
            return layout
    raise InvalidInput(f"no keypoint layout has {dim} values per frame; expected one of "
                       f"{', '.join(f'{p.dim} ({p.name})' for p in PRESETS.values())}")


# ---- one frame ---------------------------------------------------------------------------------

def _points(value: Any, what: str, count: int) -> np.ndarray | None:
    """(count, 3) float64 from (count, 2|3) array-likes (z = 0 when only x, y); None stays None."""
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != count or array.shape[1] not in (2, 3):
        raise InvalidInput(f"{what}: expected ({count}, 3) or ({count}, 2) landmarks, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidInput(f"{what}: expected finite coordinates, got NaN or inf")
    if array.shape[1] == 2:
        array = np.concatenate([array, np.zeros((count, 1))], axis=1)
    return array


def _hand_key(hands: Mapping[str, Any], side: str) -> Any:
    for key in (side, side.capitalize(), f"{side}_hand", side.upper()):
        if key in hands:
            return hands[key]
    return None


def reference(pose: np.ndarray | None, layout: KeypointLayout) -> tuple[np.ndarray, float]:
    """The (centre (2,), scale) of one frame (see the module docstring)."""
    if layout.normalise == "shoulders" and pose is not None:
        left, right = pose[11, :2], pose[12, :2]
        width = float(np.linalg.norm(left - right))
        return (left + right) / 2, max(width, MIN_SHOULDER_WIDTH)
    return np.asarray(IMAGE_CENTRE, dtype=np.float64), IMAGE_SCALE


def frame_vector(hands: Mapping[str, Any] | None, pose: Any | None, layout: str | KeypointLayout = HANDS_POSE156
                 ) -> np.ndarray:
    """One frame as the layout's ``(D,)`` float32 vector.

    hands: {"left": (21, 3|2), "right": (21, 3|2)} MediaPipe hand landmarks (x, y in [0, 1] of the
        image, z relative depth); a missing key or None = hand not seen (zeros).
    pose: (33, 3|2) MediaPipe pose landmarks, or None (zeros; image reference).
    """
    layout = get_layout(layout)
    hands = hands or {}
    if not isinstance(hands, Mapping):
        raise InvalidInput(f"hands: expected a dict {{'left': (21, 3), 'right': (21, 3)}}, got {type(hands).__name__}")
    unknown = [k for k in hands if str(k).lower().removesuffix("_hand") not in ("left", "right")]
    if unknown:
        raise InvalidInput(f"hands: unknown key(s) {unknown}; expected 'left' and/or 'right'")
    parts = {"left_hand": _points(_hand_key(hands, "left"), "left hand", 21),
             "right_hand": _points(_hand_key(hands, "right"), "right hand", 21),
             "pose": _points(pose, "pose", 33)}
    centre, scale = reference(parts["pose"], layout)
    out = np.zeros((len(layout.landmarks), VALUES_PER_LANDMARK), dtype=np.float64)
    for source, points in parts.items():
        if points is None:
            continue
        where, indices = layout.positions(source)
        if not where:
            continue
        chosen = points[indices]
        out[where, 0:2] = (chosen[:, 0:2] - centre) / scale
        out[where, 2] = chosen[:, 2] / scale
    return out.reshape(-1).astype(np.float32)


def present(frames: np.ndarray, layout: str | KeypointLayout, source: str) -> np.ndarray:
    """(T,) bool: which frames of a ``(T, D)`` clip have ``source`` (left_hand | right_hand | pose) at all."""
    layout = get_layout(layout)
    where, _ = layout.positions(source)
    if not where:
        return np.zeros(len(frames), dtype=bool)
    block = np.asarray(frames).reshape(len(frames), -1, VALUES_PER_LANDMARK)[:, where]
    return np.abs(block).sum(axis=(1, 2)) > 0


# ---- clips and batches -----------------------------------------------------------------------

def check_clip(frames: Any, layout: str | KeypointLayout | None = None, what: str = "clip") -> np.ndarray:
    """``frames`` as a ``(T, D)`` float32 array (T >= 1, finite); InvalidInput naming expected vs got."""
    dim = get_layout(layout).dim if layout is not None else None
    expected = f"(T, {dim})" if dim else "(T, D)"
    try:
        array = np.asarray(frames, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what}: expected a {expected} float array, got {type(frames).__name__} ({exc})") from None
    if array.ndim != 2:
        raise InvalidInput(f"{what}: expected shape {expected}, got {array.shape}")
    if array.shape[0] < 1:
        raise InvalidInput(f"{what}: expected at least one frame, got an empty clip {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise InvalidInput(f"{what}: expected {dim} values per frame for layout {get_layout(layout).name}, "
                           f"got {array.shape[1]} (shape {array.shape})")
    if not np.isfinite(array).all():
        bad = int(np.argwhere(~np.isfinite(array))[0][0])
        raise InvalidInput(f"{what}: expected finite values, got NaN or inf (first in frame {bad})")
    return np.ascontiguousarray(array)


def resample(seq: Any, length: int) -> np.ndarray:
    """``(T, D)`` -> ``(length, D)`` float32 by linear interpolation in time.

    The first and last frames are kept; frame ``k`` samples time ``k * (T - 1) / (length - 1)``.
    A single frame is repeated. (A hand that appears between two frames is interpolated from
    zeros, as the models saw it in training.)
    """
    seq = check_clip(seq, what="sequence")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise InvalidInput(f"resample length: expected an integer >= 1, got {length!r}")
    steps = seq.shape[0]
    if steps == length:
        return seq.copy()
    if steps == 1 or length == 1:
        return np.repeat(seq[:1], length, axis=0) if steps == 1 else seq[:1].copy()
    t = np.linspace(0.0, steps - 1, length)
    low = np.floor(t).astype(np.int64)
    high = np.minimum(low + 1, steps - 1)
    w = (t - low)[:, None].astype(np.float32)
    return ((1 - w) * seq[low] + w * seq[high]).astype(np.float32)


def pad_batch(seqs: Sequence[Any], length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips ``(T_i, D)`` -> ``(B, Tmax, D)`` float32 zero-padded at the end and ``lengths`` (B,) int64.

    ``length`` fixes Tmax (longer clips are refused; resample them first).
    """
    if not len(seqs):
        raise InvalidInput("pad_batch: expected at least one sequence")
    arrays = [check_clip(s, what=f"sequence {i}") for i, s in enumerate(seqs)]
    dims = {a.shape[1] for a in arrays}
    if len(dims) != 1:
        raise InvalidInput(f"pad_batch: expected one value count per frame, got {sorted(dims)}")
    longest = max(a.shape[0] for a in arrays)
    steps = longest if length is None else length
    if longest > steps:
        raise InvalidInput(f"pad_batch: a sequence has {longest} frames; expected at most {steps}")
    out = torch.zeros(len(arrays), steps, dims.pop(), dtype=torch.float32)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = torch.from_numpy(a)
    return out, torch.tensor([a.shape[0] for a in arrays], dtype=torch.int64)
