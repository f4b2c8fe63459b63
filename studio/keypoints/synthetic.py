"""Synthetic signs: distinct, learnable hand motions per gloss, for tests, the demo and benchmarks.

Each gloss is a (trajectory, hands, handshape) triple:

- trajectory (12): circle_cw, circle_ccw, figure8, spiral (category "round"); line_right,
  line_left, line_up, line_down, diagonal (category "straight"); zigzag, wave, tap (category
  "repeated");
- hands (3): right, left (the mirrored motion at the left side) or both (mirror-symmetric);
- handshape (3): open, point, fist.

Gloss ``g`` takes trajectory ``g % 12``, hands ``(g // 12) % 3`` and handshape
``(g % 3 + g // 36) % 3``, so up to 108 glosses are all different; the name is
``"{trajectory}_{hands}_{handshape}"``. Clips are made the way real ones are: a signer
(shoulders, elbows, eyes, mouth) in image coordinates with MediaPipe-like hands, then
:func:`studio.keypoints.layout.frame_vector` per frame. Every clip varies: where the signer
stands and how big (shoulder width 0.2-0.3 of the image), amplitude, a small rotation, speed
(time warp), per-landmark jitter and an occasional frame where a hand is not detected.
"""

from __future__ import annotations

import math

import numpy as np

from studio.errors import InvalidInput
from studio.keypoints.layout import HANDS_POSE156, KeypointLayout, frame_vector, get_layout

# ---- handshapes: 21 MediaPipe hand landmarks (x, y), wrist at 0, middle MCP ~1 above (y down) ----------

_OPEN = np.array([
    (0.0, 0.0),  # wrist
    (-0.35, -0.25), (-0.6, -0.5), (-0.78, -0.75), (-0.92, -0.95),  # thumb
    (-0.25, -1.0), (-0.28, -1.4), (-0.3, -1.65), (-0.32, -1.85),  # index
    (0.0, -1.05), (0.0, -1.5), (0.0, -1.78), (0.0, -2.0),  # middle
    (0.22, -0.98), (0.25, -1.38), (0.27, -1.62), (0.28, -1.8),  # ring
    (0.42, -0.85), (0.5, -1.12), (0.55, -1.3), (0.58, -1.45),  # pinky
])


def _curl(shape: np.ndarray, fingers: tuple[int, ...]) -> np.ndarray:
    """Fold the PIP, DIP and tip of ``fingers`` (1 thumb .. 5 pinky) back over the palm."""
    out = shape.copy()
    for f in fingers:
        mcp = 4 * f - 3 if f > 1 else 2
        base = out[mcp]
        for k, joint in enumerate(range(mcp + 1, 4 * f + 1)):
            out[joint] = base + np.array([0.05 * (k + 1) * (1 if f > 1 else 1.5), 0.18 * (k + 1)])
    return out


HANDSHAPES: dict[str, np.ndarray] = {
    "open": _OPEN,
    "point": _curl(_OPEN, (1, 3, 4, 5)),  # index finger out
    "fist": _curl(_OPEN, (1, 2, 3, 4, 5)),
}


def hand_points(shape: str, wrist: tuple[float, float], size: float, mirror: bool = False) -> np.ndarray:
    """(21, 3) landmarks of handshape ``shape`` with the wrist at ``wrist`` and the middle MCP ``size`` above it.

    ``mirror``: the left hand (x flipped about the wrist). z = 0.
    """
    if shape not in HANDSHAPES:
        raise InvalidInput(f"handshape {shape!r}; expected one of {', '.join(HANDSHAPES)}")
    xy = HANDSHAPES[shape] * size
    if mirror:
        xy = xy * np.array([-1.0, 1.0])
    return np.concatenate([xy + np.asarray(wrist), np.zeros((21, 1))], axis=1)


# ---- trajectories: t in [0, 1] -> (dx, dy) in units of the amplitude, y down ------------------------


def _tri(u: np.ndarray) -> np.ndarray:
    """Triangle wave with period 1, range [-1, 1]."""
    return 4 * np.abs(u - np.floor(u + 0.5)) - 1


TRAJECTORIES = {
    "circle_cw": lambda t: np.stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)], 1),
    "circle_ccw": lambda t: np.stack([np.cos(2 * np.pi * t), -np.sin(2 * np.pi * t)], 1),
    "figure8": lambda t: np.stack([np.sin(2 * np.pi * t), 0.5 * np.sin(4 * np.pi * t)], 1),
    "spiral": lambda t: np.stack([t * np.cos(4 * np.pi * t), t * np.sin(4 * np.pi * t)], 1),
    "line_right": lambda t: np.stack([2 * t - 1, 0 * t], 1),
    "line_left": lambda t: np.stack([1 - 2 * t, 0 * t], 1),
    "line_up": lambda t: np.stack([0 * t, 1 - 2 * t], 1),
    "line_down": lambda t: np.stack([0 * t, 2 * t - 1], 1),
    "diagonal": lambda t: np.stack([0.7 * (2 * t - 1), 0.7 * (1 - 2 * t)], 1),
    "zigzag": lambda t: np.stack([2 * t - 1, 0.4 * _tri(3 * t)], 1),
    "wave": lambda t: np.stack([0.6 * np.sin(6 * np.pi * t), 0 * t], 1),
    "tap": lambda t: np.stack([0 * t, 0.6 * np.abs(np.sin(3 * np.pi * t))], 1),
}
CATEGORIES = {"circle_cw": "round", "circle_ccw": "round", "figure8": "round", "spiral": "round",
              "line_right": "straight", "line_left": "straight", "line_up": "straight", "line_down": "straight",
              "diagonal": "straight", "zigzag": "repeated", "wave": "repeated", "tap": "repeated"}
HANDS = ("right", "left", "both")
MAX_GLOSSES = len(TRAJECTORIES) * len(HANDS) * len(HANDSHAPES)


def gloss_spec(g: int) -> tuple[str, str, str]:
    """(trajectory, hands, handshape) of gloss number ``g`` (see the module docstring)."""
    names = list(TRAJECTORIES)
    return (names[g % len(names)], HANDS[(g // len(names)) % len(HANDS)],
            list(HANDSHAPES)[(g % 3 + g // (len(names) * len(HANDS))) % 3])


def gloss_names(n_glosses: int) -> list[tuple[str, str]]:
    """(gloss, category) of the first ``n_glosses`` synthetic glosses."""
    out = []
    for g in range(n_glosses):
        trajectory, hands, shape = gloss_spec(g)
        out.append((f"{trajectory}_{hands}_{shape}", CATEGORIES[trajectory]))
    return out


def _pose(mid: np.ndarray, width: float, wrists: dict[str, np.ndarray]) -> np.ndarray:
    """(33, 3) MediaPipe-like pose of a signer with shoulders centred at ``mid`` (image coords)."""
    pose = np.zeros((33, 3))
    pose[:, :2] = mid
    w = width
    face = {0: (0.0, -0.8), 1: (0.06, -0.88), 2: (0.09, -0.88), 3: (0.12, -0.88), 4: (-0.06, -0.88),
            5: (-0.09, -0.88), 6: (-0.12, -0.88), 7: (0.2, -0.85), 8: (-0.2, -0.85), 9: (0.07, -0.68),
            10: (-0.07, -0.68)}
    for i, (dx, dy) in face.items():
        pose[i, :2] = mid + np.array([dx, dy]) * w
    # the signer faces the camera: their left side is on the image's right
    shoulders = {"left": mid + np.array([0.5, 0.0]) * w, "right": mid + np.array([-0.5, 0.0]) * w}
    pose[11, :2], pose[12, :2] = shoulders["left"], shoulders["right"]
    for side, (elbow, wrist_i, extra) in {"left": (13, 15, (17, 19, 21)), "right": (14, 16, (18, 20, 22))}.items():
        wrist = wrists[side]
        pose[elbow, :2] = (shoulders[side] + wrist) / 2 + np.array([0.0, 0.45]) * w
        pose[wrist_i, :2] = wrist
        for i in extra:
            pose[i, :2] = wrist + np.array([0.0, -0.1]) * w
    for i, dx in zip((23, 24), (0.35, -0.35), strict=True):
        pose[i, :2] = mid + np.array([dx, 1.3]) * w
    for i in range(25, 33):  # legs (below the frame; unused by the presets)
        pose[i, :2] = mid + np.array([0.3 if i % 2 else -0.3, 2.0]) * w
    return pose


def generate_signs(n_glosses: int, clips_per_gloss: int, length: int = 32,
                   layout: str | KeypointLayout = HANDS_POSE156, seed: int = 0
                   ) -> list[tuple[np.ndarray, str, str]]:
    """``n_glosses * clips_per_gloss`` clips as ``(frames (length, D) float32, gloss, category)``,
    gloss-major order; the same arguments give the same clips."""
    layout = get_layout(layout)
    for name, value, low in (("n_glosses", n_glosses, 1), ("clips_per_gloss", clips_per_gloss, 1),
                             ("length", length, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInput(f"generate_signs {name}: expected an integer >= {low}, got {value!r}")
    if n_glosses > MAX_GLOSSES:
        raise InvalidInput(f"generate_signs n_glosses: at most {MAX_GLOSSES} distinct synthetic glosses, "
                           f"got {n_glosses}")
    rng = np.random.default_rng(seed)
    names = gloss_names(n_glosses)
    clips = []
    for g in range(n_glosses):
        trajectory, hands, shape = gloss_spec(g)
        gloss, category = names[g]
        for _ in range(clips_per_gloss):
            clips.append((_clip(rng, trajectory, hands, shape, length, layout), gloss, category))
    return clips


def _clip(rng: np.random.Generator, trajectory: str, hands: str, shape: str, length: int,
          layout: KeypointLayout) -> np.ndarray:
    width = rng.uniform(0.2, 0.3)
    mid = np.array([rng.uniform(0.4, 0.6), rng.uniform(0.55, 0.7)])
    amplitude = width * rng.uniform(0.35, 0.5)
    angle = math.radians(rng.uniform(-12, 12))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    gamma = rng.uniform(0.75, 1.33)  # speed profile: t ** gamma
    t = np.linspace(0.0, 1.0, length) ** gamma
    path = TRAJECTORIES[trajectory](t) @ rotation.T * amplitude  # (length, 2)
    size = width * rng.uniform(0.3, 0.38)
    anchors = {"right": mid + np.array([-0.45, -0.35]) * width + rng.normal(0, 0.04, 2) * width,
               "left": mid + np.array([0.45, -0.35]) * width + rng.normal(0, 0.04, 2) * width}
    active = ("right", "left") if hands == "both" else (hands,)
    frames = []
    for k in range(length):
        wrists, seen = {}, {}
        for side in ("right", "left"):
            if side in active:
                offset = path[k] * (np.array([-1.0, 1.0]) if side == "left" else 1.0)
                wrists[side] = anchors[side] + offset
                points = hand_points(shape, tuple(wrists[side]), size, mirror=side == "left")
                points[:, :2] += rng.normal(0, 0.01 * width, (21, 2))
                points[:, 2] = rng.normal(0, 0.005, 21)
                if rng.random() >= 0.03:  # now and then the detector misses a hand
                    seen[side] = points
            else:  # a resting hand, out of the frame: not detected
                wrists[side] = mid + np.array([0.5 if side == "left" else -0.5, 1.4]) * width
        pose = _pose(mid, width, wrists)
        pose[:, :2] += rng.normal(0, 0.004 * width, (33, 2))
        frames.append(frame_vector(seen, pose, layout))
    return np.stack(frames).astype(np.float32)
