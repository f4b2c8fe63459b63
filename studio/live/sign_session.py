"""The sign page's pipeline slot: landmarks, the recognizer and the clip recorder on one
camera stream (studio.live.sign has the recognizers).

    session = SignSession.for_version(ref)       # landmarker + recognizer as one pipeline slot
    pipeline = session.pipeline()                # studio.live.pipeline.LivePipeline, started
    out = pipeline.process(frame)                # camera thread; dots + top-3 drawn on the frame
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.live.landmarks import FrameLandmarks, Landmarker, draw_landmarks, to_vector
from studio.live.sign import ClipRecognizer, SignRecognizer, SignState, recognizer_for, sign_model_info


@dataclass(frozen=True)
class SignFrame:
    """What the sign slot computed for one frame (what its drawer draws)."""

    landmarks: FrameLandmarks | None
    state: SignState | None
    recording: str | None = None  # the recorder's line while it records


def landmarker_layout(layouts: Sequence[Any]) -> Any:
    """The layout a Landmarker must run for vectors in all of ``layouts`` (None entries ignored): with the
    pose landmarker when any of them has pose points (hands_pose156), else hands only (hands126);
    None when there are none."""
    from studio.keypoints.layout import HANDS126, HANDS_POSE156
    from studio.live.landmarks import needs_pose

    present = [layout for layout in layouts if layout is not None]
    if not present:
        return None
    return HANDS_POSE156 if any(needs_pose(layout) for layout in present) else HANDS126


@dataclass
class SignSession:
    """The sign page's work for one camera stream: landmarks (when the model reads keypoints or clips
    are recorded), the recognizer (when a model is chosen) and an optional clip recorder
    (``studio.live.teach.ClipRecorder`` with a layout) fed with frame vectors in its own layout.

    ``infer(frame) -> SignFrame`` runs on the pipeline's inference thread; ``draw(frame, output)``
    puts the dots, the top-3 and the category on the frame.
    """

    recognizer: SignRecognizer | ClipRecognizer | None = None
    landmarker: Any = None  # Landmarker (or anything with detect(frame) -> FrameLandmarks)
    recorder: Any = None  # ClipRecorder (with a layout)
    name: str = "sign"

    @classmethod
    def for_version(cls, ref: Any | None, *, recorder: Any = None, runtime: str = "torch", device: str | None = None,
                    landmarker: Any = None, **options: Any) -> SignSession:
        """A session of version ``ref`` (None: no recognition, e.g. only recording clips with ``recorder``).
        Builds the Landmarker the model and the recorder need (MissingLandmarker names missing .task files)."""
        recognizer = recognizer_for(ref, runtime=runtime, device=device, **options) if ref is not None else None
        if landmarker is None:
            layout = landmarker_layout([getattr(recognizer, "layout", None), getattr(recorder, "layout", None)])
            landmarker = Landmarker(layout) if layout is not None else None
        name = sign_model_info(ref).name if ref is not None else "teach"
        return cls(recognizer, landmarker, recorder, name)

    @property
    def layout(self) -> Any:
        """The keypoint layout of the recognizer (None for clip models or without a model)."""
        return getattr(self.recognizer, "layout", None)

    def infer(self, frame: np.ndarray) -> SignFrame:
        found = self.landmarker.detect(frame) if self.landmarker is not None else None
        state = None
        if isinstance(self.recognizer, ClipRecognizer):
            state = self.recognizer.feed(frame)
        elif self.recognizer is not None and found is not None:
            state = self.recognizer.feed(to_vector(found, self.recognizer.layout))
        recording = None
        if getattr(self.recorder, "wants_frames", False):  # raw-frame clips (studio.live.frame_recorder)
            if self.recorder.recording:
                self.recorder.feed(frame)
                recording = self.recorder.status_line() or None
            return SignFrame(found, state, recording)
        record_layout = getattr(self.recorder, "layout", None) or self.layout
        if self.recorder is not None and self.recorder.recording and found is not None and record_layout is not None:
            self.recorder.feed(to_vector(found, record_layout))
            recording = self.recorder.status_line() or None
        return SignFrame(found, state, recording)

    def draw(self, frame: np.ndarray, output: SignFrame) -> np.ndarray:
        return draw_sign(frame, output)

    def state(self) -> SignState | None:
        """The recognizer's newest state (None without a model)."""
        return self.recognizer.state if self.recognizer is not None else None

    def slot(self) -> Any:
        from studio.live.pipeline import Slot

        return Slot(self.name, self.infer, self.draw, "sign")

    def pipeline(self) -> Any:
        """A started drop-when-busy pipeline running this session."""
        from studio.live.pipeline import LivePipeline

        return LivePipeline([self.slot()]).start()


def draw_sign(frame: np.ndarray, output: SignFrame | None) -> np.ndarray:
    """Landmark dots, then the top-3 / category lines (and a recording line) on ``frame`` (in place)."""
    from studio.live.overlay import draw_lines

    if output is None:
        return frame
    draw_landmarks(frame, output.landmarks)
    lines = output.state.lines() if output.state is not None else []
    if output.recording:
        lines = [output.recording, *lines]
    return draw_lines(frame, lines, top=int(frame.shape[0] * 0.08)) if lines else frame
