"""Teach a sign: record clips from the webcam, add them to a keypoint dataset, train, use the new version.

    recorder = ClipRecorder(min_frames=8, max_frames=90, layout="hands_pose156")
    recorder.start("hello")                  # page button
    recorder.feed(vector)                    # the live pipeline, per frame (SignSession does this)
    frames = recorder.stop()                 # page button: the (T, D) clip
    save_clip("my-signs", "hello", frames)   # into a keypoint dataset (created with the layout)
    job_id = queue_training("my-signs")      # snapshot + a "train" job (the worker runs it)
    newest_version("my-signs")               # the newest sequence model trained on the dataset

A recording stops by itself at ``max_frames`` (the clip waits for :meth:`ClipRecorder.stop`
or :meth:`ClipRecorder.take`). With a layout, frames without any hand at the start and the end
are trimmed off (the signer reaching for the mouse), and a clip must keep ``min_frames``.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.errors import InvalidInput

DEFAULT_MIN_FRAMES = 8
DEFAULT_MAX_FRAMES = 90  # 3 s at 30 FPS
MIN_CLIPS_PER_GLOSS = 2
TEACH_AUGMENT = {"rotate": 10.0, "scale": 0.9}  # keypoint augmentations (no flips: they change signs)


@dataclass(frozen=True)
class RecorderStatus:
    recording: bool
    gloss: str | None
    frames: int
    max_frames: int
    finished: bool  # a clip is waiting (the recording hit max_frames)


class ClipRecorder:
    """Collects frame vectors between :meth:`start` and :meth:`stop` (thread-safe: the camera thread
    feeds, the page starts and stops)."""

    def __init__(self, min_frames: int = DEFAULT_MIN_FRAMES, max_frames: int = DEFAULT_MAX_FRAMES,
                 layout: Any = None) -> None:
        from studio.keypoints.layout import get_layout

        for name, value in (("min_frames", min_frames), ("max_frames", max_frames)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name}: expected an integer >= 1, got {value!r}")
        if min_frames > max_frames:
            raise InvalidInput(f"min_frames {min_frames} is above max_frames {max_frames}")
        self.min_frames, self.max_frames = min_frames, max_frames
        self.layout = get_layout(layout) if layout is not None else None
        self._lock = threading.Lock()
        self._frames: list[np.ndarray] = []
        self._gloss: str | None = None
        self._recording = False
        self._finished = False

    @property
    def recording(self) -> bool:
        return self._recording

    def status(self) -> RecorderStatus:
        with self._lock:
            return RecorderStatus(self._recording, self._gloss, len(self._frames), self.max_frames, self._finished)

    def status_line(self) -> str:
        s = self.status()
        return f"REC {s.gloss}: {s.frames}/{s.max_frames} frames" if s.recording else ""

    def start(self, gloss: str) -> None:
        """Start a clip of ``gloss`` (a recording in progress, or a finished clip not yet taken, is dropped)."""
        if not isinstance(gloss, str) or not gloss.strip():
            raise InvalidInput(f"gloss: expected a non-empty name, got {gloss!r}")
        with self._lock:
            self._frames, self._gloss = [], gloss.strip()
            self._recording, self._finished = True, False

    def feed(self, vector: Any) -> bool:
        """Add a frame vector while recording (ignored otherwise); whether it was kept."""
        with self._lock:
            if not self._recording:
                return False
            v = np.asarray(vector, np.float32).reshape(-1)
            if self._frames and v.shape != self._frames[0].shape:
                raise InvalidInput(f"frame vector: expected {self._frames[0].shape[0]} values like the clip's "
                                   f"first frame, got {v.shape[0]}")
            if self.layout is not None and v.shape[0] != self.layout.dim:
                raise InvalidInput(f"frame vector: expected {self.layout.dim} values (layout {self.layout.name}), "
                                   f"got {v.shape[0]}")
            self._frames.append(v)
            if len(self._frames) >= self.max_frames:
                self._recording, self._finished = False, True
            return True

    def cancel(self) -> None:
        with self._lock:
            self._frames, self._gloss, self._recording, self._finished = [], None, False, False

    def stop(self) -> np.ndarray:
        """End the recording; the (T, D) float32 clip (hand-less frames at both ends trimmed when the
        recorder has a layout). InvalidInput when nothing was recorded or the clip is too short."""
        with self._lock:
            frames, gloss = self._frames, self._gloss
            was_active = self._recording or self._finished
            self._frames, self._recording, self._finished = [], False, False
        if not was_active:
            raise InvalidInput("not recording: press start first")
        clip = np.stack(frames).astype(np.float32) if frames else np.zeros((0, 0), np.float32)
        if self.layout is not None and len(clip):
            clip = trim_handless(clip, self.layout)
        if len(clip) < self.min_frames:
            raise InvalidInput(f"clip of {gloss!r} too short: {len(clip)} frames with hands; expected at least "
                               f"{self.min_frames} (hold the sign longer, with your hands in view)")
        return clip

    take = stop  # after an automatic stop at max_frames


def trim_handless(clip: np.ndarray, layout: Any) -> np.ndarray:
    """``clip`` without its leading and trailing frames that have no hand."""
    from studio.keypoints.layout import present

    seen = present(clip, layout, "left_hand") | present(clip, layout, "right_hand")
    if not seen.any():
        return clip[:0]
    where = np.flatnonzero(seen)
    return clip[where[0]: where[-1] + 1]


def save_clip(dataset: str, gloss: str, frames: Any, *, layout: Any = "hands_pose156", category: str | None = None,
              source: str = "teach a sign") -> str:
    """Add a recorded clip to keypoint dataset ``dataset`` (created with ``layout`` when missing; an
    existing dataset keeps its layout and the clip must match it). The clip's id."""
    from studio.errors import NotFound
    from studio.keypoints.dataset import add_clip, create_keypoint_dataset, dataset_layout

    try:
        dataset_layout(dataset)
    except NotFound:
        create_keypoint_dataset(dataset, layout, exist_ok=True)
    return add_clip(dataset, frames, gloss, category=category, source=source)


def recording_layout(dataset: str, default: Any = "hands_pose156") -> Any:
    """The layout new clips of ``dataset`` must have: the dataset's own, or ``default`` for a new one."""
    from studio.errors import NotFound
    from studio.keypoints.dataset import dataset_layout
    from studio.keypoints.layout import get_layout

    try:
        return dataset_layout(dataset)
    except NotFound:
        return get_layout(default)


def clip_counts(dataset: str) -> dict[str, int]:
    """Clips per gloss of keypoint dataset ``dataset`` (its gloss order; {} when it does not exist)."""
    from studio.errors import NotFound
    from studio.keypoints.dataset import load_manifest

    try:
        manifest = load_manifest(dataset)
    except NotFound:
        return {}
    counts = Counter(c["gloss"] for c in manifest["clips"])
    return {g: counts[g] for g in manifest["glosses"] if counts[g]}


def training_config(dataset: str, dataset_version: int, *, architecture: str = "sign_gru", epochs: int = 40,
                    sequence_length: int | None = None, **fields: Any) -> Any:
    """The TrainConfig of a teach-a-sign run: keypoint augmentations, sequence_length = the median clip
    length (at least 8) unless given; ``fields`` override any TrainConfig field."""
    from studio.keypoints.dataset import version_info
    from studio.training.config import TrainConfig

    version = version_info(dataset, dataset_version)
    if sequence_length is None:
        lengths = [c.frames for c in version.clips]
        sequence_length = max(8, int(np.median(lengths))) if lengths else 32
    base = dict(task="sequence", architecture=architecture, backbone="", dataset=dataset,
                dataset_version=dataset_version, sequence_length=sequence_length, epochs=epochs, batch_size=8,
                lr=3e-3, augment=dict(TEACH_AUGMENT), num_workers=0)
    return TrainConfig(**{**base, **fields})


def queue_training(dataset: str, *, architecture: str = "sign_gru", epochs: int = 40,
                   min_clips: int = MIN_CLIPS_PER_GLOSS, **fields: Any) -> str:
    """Snapshot ``dataset`` and queue a "train" job on that version (the worker runs it); the job id.

    InvalidInput unless at least two glosses have ``min_clips`` clips each (nothing is queued).
    """
    from studio.jobs import enqueue
    from studio.jobs.kinds import TrainSpec
    from studio.keypoints.dataset import snapshot

    counts = clip_counts(dataset)
    if not counts:
        raise InvalidInput(f"keypoint dataset {dataset!r} has no clips yet; record some first")
    short = {g: n for g, n in counts.items() if n < min_clips}
    if len(counts) < 2 or short:
        detail = (f"glosses with too few clips: {', '.join(f'{g} ({n})' for g, n in short.items())}" if short
                  else f"only {next(iter(counts))!r} so far")
        raise InvalidInput(f"training needs at least 2 signs with at least {min_clips} clips each; {detail}")
    version = snapshot(dataset, note="teach a sign")
    config = training_config(dataset, version, architecture=architecture, epochs=epochs, **fields)
    return enqueue(TrainSpec(config=config))


def newest_version(dataset: str) -> Any:
    """The newest sequence model version (ModelVersion) trained on keypoint dataset ``dataset``, or None."""
    from sqlmodel import col, select

    from studio.db import session_scope
    from studio.tables import ModelVersion

    query = (select(ModelVersion).where(ModelVersion.task == "sequence")
             .order_by(col(ModelVersion.created_at).desc(), col(ModelVersion.id).desc()))
    with session_scope() as session:
        for version in session.exec(query):
            config = version.config if isinstance(version.config, dict) else {}
            if config.get("keypoint_dataset") == dataset or (not config.get("keypoint_dataset")
                                                             and config.get("dataset") == dataset):
                session.expunge(version)
                return version
    return None


def trained_version(job_id: str) -> str | None:
    """The model version a finished train job registered (None while it runs or when it failed)."""
    from studio.jobs import job_result
    from studio.jobs.kinds import TrainSpec

    outcome = job_result(job_id, TrainSpec)
    return outcome.model if outcome is not None else None
