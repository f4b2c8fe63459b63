"""Raw camera frames recorded into a clip (Teach a sign with the frame-CNN + GRU model): the
frames-based twin of the keypoint :class:`studio.live.teach.ClipRecorder`."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from studio.errors import InvalidInput
from studio.frame_clips import DEFAULT_MAX_SIDE
from studio.frame_files import check_frames, shrink


class FrameRecorder:
    """Collects raw camera frames between :meth:`start` and :meth:`stop` (thread-safe: the camera
    thread feeds, the page starts and stops), each shrunk to ``max_side`` as it arrives.

    ``wants_frames`` tells the live sign session to feed it frames (a keypoint ClipRecorder gets
    vectors instead)."""

    wants_frames = True

    def __init__(self, min_frames: int = 8, max_frames: int = 90, max_side: int = DEFAULT_MAX_SIDE) -> None:
        if isinstance(min_frames, bool) or not isinstance(min_frames, int) or min_frames < 1 or max_frames < min_frames:
            raise InvalidInput(f"min_frames / max_frames: expected 1 <= min_frames <= max_frames, got "
                               f"{min_frames!r} / {max_frames!r}")
        self.min_frames, self.max_frames, self.max_side = min_frames, max_frames, max_side
        self._lock = threading.Lock()
        self._frames: list[np.ndarray] = []
        self._gloss: str | None = None
        self._recording = False
        self.layout = None  # no keypoint layout: raw frames

    @property
    def recording(self) -> bool:
        return self._recording

    def status(self) -> Any:
        """A ``studio.live.teach.RecorderStatus`` (the keypoint recorder's, so pages treat both alike)."""
        from studio.live.teach import RecorderStatus

        with self._lock:
            return RecorderStatus(self._recording, self._gloss, len(self._frames), self.max_frames,
                                  not self._recording and bool(self._frames))

    def status_line(self) -> str:
        with self._lock:
            return f"REC {self._gloss}: {len(self._frames)}/{self.max_frames} frames" if self._recording else ""

    def start(self, gloss: str) -> None:
        if not isinstance(gloss, str) or not gloss.strip():
            raise InvalidInput(f"gloss: expected a non-empty name, got {gloss!r}")
        with self._lock:
            self._frames, self._gloss, self._recording = [], gloss.strip(), True

    def cancel(self) -> None:
        with self._lock:
            self._frames, self._gloss, self._recording = [], None, False

    def feed(self, frame: np.ndarray) -> bool:
        """Add one (H, W, 3) uint8 RGB camera frame while recording; whether it was kept."""
        with self._lock:
            if not self._recording:
                return False
            small = shrink(check_frames(np.asarray(frame)[None], "camera frame"), self.max_side)[0]
            if self._frames and small.shape != self._frames[0].shape:
                raise InvalidInput(f"camera frame: expected {self._frames[0].shape} like the clip's first frame, "
                                   f"got {small.shape}")
            self._frames.append(small)
            if len(self._frames) >= self.max_frames:
                self._recording = False
            return True

    def stop(self) -> np.ndarray:
        """The (T, H, W, 3) clip; InvalidInput when it is shorter than ``min_frames``."""
        with self._lock:
            frames, gloss = self._frames, self._gloss
            self._frames, self._recording = [], False
        if len(frames) < self.min_frames:
            raise InvalidInput(f"clip of {gloss!r} too short: {len(frames)} frames; expected at least "
                               f"{self.min_frames} (hold the sign longer)")
        return np.stack(frames)

    take = stop  # after an automatic stop at max_frames
