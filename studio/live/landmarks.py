"""MediaPipe hand and pose landmarks from camera frames, for the sign-language demo.

    landmarker = Landmarker("hands_pose156")      # needs <models_dir>/mediapipe/*.task
    found = landmarker.detect(frame)              # frame: (H, W, 3) uint8 RGB
    found.hands                                   # {"left": (21, 3), "right": (21, 3)} (seen hands only)
    found.pose                                    # (33, 3) or None
    vector = landmarker.vector(frame)             # (D,) float32 in the layout (studio.keypoints.layout)

MediaPipe's Tasks API (mediapipe >= 0.10.14) ships no model files. The studio looks for them in
``<models_dir>/mediapipe/`` (``STUDIO_MODELS_DIR``, default ``models``):

=========================  ======================================================================
``hand_landmarker.task``   the official hand landmarker (float16): :data:`MEDIAPIPE_MODELS`
``pose_landmarker.task``   the official *lite* pose landmarker (``pose_landmarker_lite.task``
                           saved under this name); only layouts with pose landmarks need it
                           (``hands126`` does not: the pose landmarker is skipped)
=========================  ======================================================================

``studio pull mediapipe`` downloads both (the only network access); a missing file is a
StudioError that says which file to put where. Landmarkers run in VIDEO mode (tracking between
frames: timestamps must grow, which :meth:`Landmarker.detect` ensures) and are not thread-safe:
use one per camera stream, from one thread (the live pipeline's inference thread).

Coordinates are MediaPipe's: x, y in [0, 1] of the image (y down), z relative depth.
Handedness is MediaPipe's label for the hand ("Left" / "Right": the signer's own hand on a
mirrored selfie view), lower-cased; when both hands get the same label, the more confident
one keeps it and the other takes the free side.
"""

from __future__ import annotations

import os
import time
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import InvalidInput, StudioError
from studio.progress import ProgressFn, null_progress, scaled


@dataclass(frozen=True)
class MediapipeModel:
    file: str  # the name the studio looks for in <models_dir>/mediapipe/
    url: str  # the official download
    what: str  # for messages


MEDIAPIPE_MODELS: dict[str, MediapipeModel] = {
    "hand": MediapipeModel(
        "hand_landmarker.task",
        "https://storage.googleapis.com/mediapipe-models/hand_landmarker/hand_landmarker/float16/latest/"
        "hand_landmarker.task", "MediaPipe hand landmarker"),
    "pose": MediapipeModel(
        "pose_landmarker.task",
        "https://storage.googleapis.com/mediapipe-models/pose_landmarker/pose_landmarker_lite/float16/latest/"
        "pose_landmarker_lite.task", "MediaPipe pose landmarker (lite)"),
}
HAND_POINTS, POSE_POINTS = 21, 33


class MissingLandmarker(StudioError):
    """A MediaPipe .task file the landmarker needs is not there (the message says where to put it)."""

    def __init__(self, message: str, missing: list[Path]) -> None:
        super().__init__(message)
        self.missing = missing


def mediapipe_dir() -> Path:
    """``<models_dir>/mediapipe``: where the .task files are looked for."""
    from studio.config import get_settings

    return get_settings().models_dir / "mediapipe"


def needs_pose(layout: Any) -> bool:
    """Whether a layout (name, dict or KeypointLayout) holds pose landmarks (hands126: no)."""
    from studio.keypoints.layout import get_layout

    return bool(get_layout(layout).positions("pose")[0])


def landmarker_files(layout: Any = "hands_pose156", folder: Path | None = None) -> dict[str, Path]:
    """{"hand": path, "pose": path} of the .task files ``layout`` needs ("pose" only when it has pose landmarks)."""
    folder = Path(folder) if folder is not None else mediapipe_dir()
    kinds = ("hand", "pose") if needs_pose(layout) else ("hand",)
    return {kind: folder / MEDIAPIPE_MODELS[kind].file for kind in kinds}


def missing_landmarker_files(layout: Any = "hands_pose156", folder: Path | None = None) -> list[Path]:
    """The .task files ``layout`` needs that are not there (empty: the landmarker can start)."""
    return [path for path in landmarker_files(layout, folder).values() if not path.is_file()]


def missing_message(missing: list[Path]) -> str:
    """What to do about missing .task files: the command, or each file's URL and where to save it."""
    by_name = {m.file: m for m in MEDIAPIPE_MODELS.values()}
    parts = []
    for path in missing:
        spec = by_name.get(path.name)
        source = f"download {spec.url} and save it as {path}" if spec else f"put it at {path}"
        parts.append(f"{spec.what if spec else path.name}: {path.name} is missing from {path.parent}/ ({source})")
    return (f"{'; '.join(parts)}. Run `studio pull mediapipe` to download "
            f"{'it' if len(missing) == 1 else 'them'}, or copy the file(s) there by hand.")


def check_landmarker_files(layout: Any = "hands_pose156", folder: Path | None = None) -> dict[str, Path]:
    """The .task files of ``layout``; MissingLandmarker naming each missing file, where it goes and how."""
    files = landmarker_files(layout, folder)
    missing = [p for p in files.values() if not p.is_file()]
    if missing:
        raise MissingLandmarker(missing_message(missing), missing)
    return files


# ---------------------------------------------------------------------------------- detection


@dataclass(frozen=True)
class FrameLandmarks:
    """One frame's landmarks: hands {"left"|"right": (21, 3)} (seen ones only), pose (33, 3) or None."""

    hands: dict[str, np.ndarray] = field(default_factory=dict)
    pose: np.ndarray | None = None

    @property
    def has_hands(self) -> bool:
        return bool(self.hands)


def assign_hands(found: list[tuple[str, float, np.ndarray]]) -> dict[str, np.ndarray]:
    """``(label, score, (21, 3))`` per detected hand -> {"left"|"right": points}; the more confident
    hand keeps its label, a second hand with the same label takes the free side, more are ignored."""
    hands: dict[str, np.ndarray] = {}
    for label, _score, points in sorted(found, key=lambda item: -item[1]):
        side = label.lower() if label.lower() in ("left", "right") else "right"
        if side in hands:
            side = "left" if side == "right" else "right"
        if side not in hands:
            hands[side] = points
    return hands


def _points(landmarks: Any) -> np.ndarray:
    return np.array([(lm.x, lm.y, lm.z) for lm in landmarks], dtype=np.float64)


class Landmarker:
    """MediaPipe HandLandmarker (2 hands) and, for layouts with pose points, PoseLandmarker, in VIDEO mode.

    layout: the keypoint layout the vectors are for (a preset name, dict or KeypointLayout);
    folder: where the .task files are (default ``<models_dir>/mediapipe``).
    MissingLandmarker when a file is missing; StudioError when MediaPipe cannot load one.
    """

    def __init__(self, layout: Any = "hands_pose156", folder: Path | None = None, *, num_hands: int = 2,
                 min_confidence: float = 0.5) -> None:
        from studio.keypoints.layout import get_layout

        self.layout = get_layout(layout)
        self.files = check_landmarker_files(self.layout, folder)
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions
        except ImportError as exc:  # pragma: no cover - mediapipe is a dependency
            raise StudioError(f"mediapipe is not installed ({exc}); install it with `pip install mediapipe==1.2.2` "
                              "(it needs opencv-contrib-python of the same version as opencv-python)") from None
        self._mp = mp
        self._last_ms = -1
        self._hands = self._create(vision.HandLandmarker, vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.files["hand"])), running_mode=vision.RunningMode.VIDEO,
            num_hands=num_hands, min_hand_detection_confidence=min_confidence,
            min_hand_presence_confidence=min_confidence, min_tracking_confidence=min_confidence), self.files["hand"])
        self._pose = None
        if "pose" in self.files:
            try:
                self._pose = self._create(vision.PoseLandmarker, vision.PoseLandmarkerOptions(
                    base_options=BaseOptions(model_asset_path=str(self.files["pose"])),
                    running_mode=vision.RunningMode.VIDEO, num_poses=1, min_pose_detection_confidence=min_confidence,
                    min_pose_presence_confidence=min_confidence, min_tracking_confidence=min_confidence),
                    self.files["pose"])
            except StudioError:
                self._hands.close()
                raise

    @staticmethod
    def _create(task: Any, options: Any, path: Path) -> Any:
        try:
            return task.create_from_options(options)
        except (RuntimeError, ValueError, OSError) as exc:
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise StudioError(f"{path}: MediaPipe cannot load it ({reason}); expected the official .task file "
                              "(a zip of TFLite models). Delete it and run `studio pull mediapipe` again.") from None

    def _timestamp(self, timestamp_ms: int | None) -> int:
        now = int(time.monotonic() * 1000) if timestamp_ms is None else int(timestamp_ms)
        self._last_ms = max(now, self._last_ms + 1)  # VIDEO mode refuses timestamps that do not grow
        return self._last_ms

    def detect(self, frame: np.ndarray, timestamp_ms: int | None = None) -> FrameLandmarks:
        """Landmarks of one (H, W, 3) uint8 RGB frame (timestamp: ms, default the monotonic clock)."""
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InvalidInput(f"frame: expected (H, W, 3) uint8 RGB, got shape {getattr(frame, 'shape', None)} "
                               f"dtype {getattr(frame, 'dtype', type(frame).__name__)}")
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        stamp = self._timestamp(timestamp_ms)
        result = self._hands.detect_for_video(image, stamp)
        found = []
        for k, landmarks in enumerate(result.hand_landmarks):
            category = result.handedness[k][0] if k < len(result.handedness) and result.handedness[k] else None
            label = (getattr(category, "category_name", None) or "right") if category else "right"
            score = float(getattr(category, "score", 0.0) or 0.0) if category else 0.0
            found.append((label, score, _points(landmarks)))
        pose = None
        if self._pose is not None:
            poses = self._pose.detect_for_video(image, stamp).pose_landmarks
            if poses:
                pose = _points(poses[0])
        return FrameLandmarks(assign_hands(found), pose)

    def vector(self, frame: np.ndarray, timestamp_ms: int | None = None) -> np.ndarray:
        """The frame's (D,) float32 vector in the landmarker's layout."""
        return to_vector(self.detect(frame, timestamp_ms), self.layout)

    def close(self) -> None:
        for task in (self._hands, self._pose):
            if task is not None:
                task.close()
        self._hands = self._pose = None

    def __enter__(self) -> Landmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def to_vector(found: FrameLandmarks, layout: Any) -> np.ndarray:
    """``frame_vector`` of detected landmarks in ``layout``."""
    from studio.keypoints.layout import frame_vector

    return frame_vector(found.hands, found.pose, layout)


def draw_landmarks(frame: np.ndarray, found: FrameLandmarks | None, *, radius: int | None = None) -> np.ndarray:
    """Small dots on ``frame`` (in place; returned): left hand orange, right hand cyan, the upper-body
    pose points (those hands_pose156 uses) white."""
    import cv2

    if found is None:
        return frame
    from studio.keypoints.layout import UPPER_BODY_POSE

    h, w = frame.shape[:2]
    r = radius or max(2, round(min(h, w) / 160))
    colours = {"left": (255, 140, 0), "right": (0, 200, 255)}
    groups = [(points, colours.get(side, (255, 255, 0))) for side, points in found.hands.items()]
    if found.pose is not None:
        groups.append((np.asarray(found.pose)[list(UPPER_BODY_POSE)], (255, 255, 255)))
    for points, colour in groups:
        for x, y in np.asarray(points)[:, :2]:
            if 0 <= x <= 1 and 0 <= y <= 1:
                cv2.circle(frame, (int(x * (w - 1)), int(y * (h - 1))), r, colour, -1, cv2.LINE_AA)
    return frame


# ---------------------------------------------------------------------------------- download


Opener = Callable[..., Any]


def pull_mediapipe(dest_dir: Path | None = None, progress: ProgressFn = null_progress, *,
                   opener: Opener = urllib.request.urlopen, urls: Mapping[str, str] | None = None) -> Path:
    """Download the hand and pose landmarker .task files into ``dest_dir`` (default
    ``<models_dir>/mediapipe``); the folder. Each file goes to a temp name and is renamed when
    complete and a readable zip (the official files are "latest" builds, so there is no fixed
    checksum). Offline: a StudioError naming the folder and both URLs. ``urls`` replaces the
    official URLs per kind (tests use file:// URLs)."""
    from studio.segment.pull import pull_file

    folder = Path(dest_dir) if dest_dir is not None else mediapipe_dir()
    kinds = list(MEDIAPIPE_MODELS)
    for n, kind in enumerate(kinds):
        spec = MEDIAPIPE_MODELS[kind]
        url = (urls or {}).get(kind, spec.url)
        target = folder / spec.file
        if target.is_file() and zipfile.is_zipfile(target):
            progress((n + 1) / len(kinds), f"{spec.file} already present")
            continue
        try:
            pull_file(url, target, opener=opener, progress=scaled(progress, n / len(kinds), (n + 1) / len(kinds)))
        except StudioError as exc:
            manual = "; ".join(f"{MEDIAPIPE_MODELS[k].url} saved as {folder / MEDIAPIPE_MODELS[k].file}"
                               for k in kinds)
            raise StudioError(f"could not download the MediaPipe landmarkers into {folder}/ ({exc}). Without a "
                              f"network, download them elsewhere and copy them there: {manual}") from None
        if not zipfile.is_zipfile(target):
            os.unlink(target)
            raise StudioError(f"{url} did not give a MediaPipe .task file (not a zip archive); it was deleted. "
                              f"Download it by hand and save it as {target}")
    progress(1.0, f"MediaPipe landmarkers in {folder}")
    return folder
