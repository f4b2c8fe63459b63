"""Live sign-language recognition: webcam -> MediaPipe keypoints -> sequence classifier.

    recognizer = recognizer_for("sign_gru_none_signs_v1.0.0_20260101")  # a sequence model version
    state = recognizer.feed(vector)       # (D,) float32 frame vector (studio.keypoints.layout)
    state.top                             # [(gloss, p), ...] best 3, smoothed over time
    state.category                        # (category, p) or None

The sign page runs a recognizer with the landmarker and the clip recorder as one pipeline
slot: studio.live.sign_session.SignSession.

How the recognizer reads the stream
-----------------------------------
- a window of the last ``window`` frame vectors (a deque); ``window`` defaults to the median
  length of the clips the version was trained on (when its keypoint dataset is still there),
  else to its ``sequence_length``. The window is resampled to ``sequence_length`` frames (as
  training resampled every clip) before it goes to the network;
- no prediction until at least ``min_hand_frames`` frames of the window have a hand ("show your
  hands"; default two thirds of the window) and the window is full ("collecting"). Frames from
  before the hands came into view (the start of the window after a pause) are left out of what
  the network sees, as they are trimmed off recorded clips (studio.live.teach). When the hands
  stay away, the smoothed probabilities are forgotten, so the next sign starts afresh;
- a prediction every ``stride`` frames (default: every frame; a keypoint window costs about a
  millisecond on a CPU, far less than the landmarker per frame). The probabilities of each head
  are smoothed with an exponential moving average, ``p = alpha * new + (1 - alpha) * p``
  (``alpha`` 1 = no smoothing), so one odd window does not flip the label. The label lags a
  change of sign by a few predictions; a larger ``stride`` also means the last prediction can be
  up to ``stride - 1`` frames old.

Versions of the frame-CNN + GRU (``frame_cnn_gru``) read raw frames instead: :class:`ClipRecognizer`
keeps a window of downscaled, normalised frames ``(T, 3, H, W)`` and needs no landmarker.

Threads: ``feed`` runs on the live pipeline's inference thread; ``state`` may be read from any
thread (a page polling it).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.errors import InvalidInput

CLIP_ARCHITECTURES = ("frame_cnn_gru",)  # sequence nets that read raw frames (studio.nets.sequence)
DEFAULT_STRIDE = 1
DEFAULT_ALPHA = 0.5
MIN_HAND_FRACTION = 2 / 3  # default min_hand_frames: this part of the window
DEFAULT_CLIP_SIZE = 64  # frame side for clip models whose version does not say
TOP_K = 3

Predict = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class SignState:
    """What the recognizer thinks now.

    status: "collecting" (window not full yet) | "show_hands" (too few frames with a hand) |
    "ready" (``top`` holds smoothed probabilities); top: up to 3 (gloss, p), best first;
    category: (name, p) of the category head, None when the model has none; raw_top: the last
    prediction's best (gloss, p) before smoothing.
    """

    status: str = "collecting"
    top: tuple[tuple[str, float], ...] = ()
    category: tuple[str, float] | None = None
    frames: int = 0  # frames in the window
    window: int = 0  # frames the window holds when full
    hand_frames: int = 0  # frames of the window with a hand
    min_hand_frames: int = 0
    predictions: int = 0  # network calls so far
    latency_ms: float = 0.0  # of the last network call
    raw_top: tuple[str, float] | None = None

    @property
    def label(self) -> str | None:
        """The smoothed best gloss, when ready."""
        return self.top[0][0] if self.status == "ready" and self.top else None

    def lines(self) -> list[str]:
        """Text lines for the video overlay and the page."""
        if self.status == "collecting":
            return [f"collecting frames {self.frames}/{self.window}"]
        if self.status == "show_hands":
            return [f"show your hands ({self.hand_frames}/{self.min_hand_frames} frames with a hand)"]
        lines = [f"{k + 1}. {gloss} {p:.0%}" for k, (gloss, p) in enumerate(self.top)]
        if self.category is not None:
            lines.append(f"category: {self.category[0]} {self.category[1]:.0%}")
        return lines


@dataclass(frozen=True)
class SignModelInfo:
    """What a sequence model version needs from the stream."""

    name: str
    architecture: str
    input_kind: str  # "keypoints" | "clip"
    glosses: list[str]
    categories: list[str]
    sequence_length: int
    window: int  # frames of the camera stream per prediction (see the module docstring)
    layout: Any = None  # KeypointLayout for keypoint models, None for clip models
    image_size: int = DEFAULT_CLIP_SIZE  # clip models: frame side
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)

    def describe(self) -> str:
        if self.input_kind == "clip":
            return (f"{self.architecture}: raw frames at {self.image_size}x{self.image_size}, "
                    f"{self.sequence_length} per prediction (no landmarker needed)")
        return (f"{self.architecture}: keypoint layout {self.layout.name} (D = {self.layout.dim}), windows of "
                f"{self.window} camera frames resampled to {self.sequence_length}")


def _training_window(config: dict[str, Any], sequence_length: int) -> int:
    """Median clip length of the keypoint dataset version the model was trained on (else sequence_length)."""
    name, number = config.get("keypoint_dataset"), config.get("keypoint_dataset_version")
    if not name or not number:
        return sequence_length
    try:
        from studio.keypoints.dataset import version_info

        lengths = [c.frames for c in version_info(str(name), int(number)).clips]
    except Exception:  # noqa: BLE001 - the dataset may be gone; the window then falls back
        return sequence_length
    return max(2, int(np.median(lengths))) if lengths else sequence_length


def sign_model_info(ref: Any) -> SignModelInfo:
    """Glosses, categories, layout and window of a sequence model version (id, name or row)."""
    from studio.inference import as_version, version_preprocessing
    from studio.keypoints.layout import get_layout, layout_for_dim

    version = as_version(ref)
    if version.task != "sequence":
        raise InvalidInput(f"{version.name} is a {version.task} model; the sign demo needs a sequence model "
                           "(train one on a keypoint dataset: task sequence)")
    prep = version_preprocessing(version)
    config = version.config if isinstance(version.config, dict) else {}
    glosses = [c["name"] for c in version.classes]
    categories = [str(c) for c in config.get("categories") or []]
    length = int(prep.get("sequence_length") or config.get("sequence_length") or 32)
    if version.architecture in CLIP_ARCHITECTURES or prep.get("input_kind") == "clip":
        size = int(prep.get("image_size") or config.get("image_size") or DEFAULT_CLIP_SIZE)
        return SignModelInfo(version.name, version.architecture, "clip", glosses, categories,
                             length, length, None, size, tuple(prep.get("mean") or (0.485, 0.456, 0.406)),
                             tuple(prep.get("std") or (0.229, 0.224, 0.225)))
    layout_spec = prep.get("keypoint_layout") or config.get("layout") or prep.get("layout")
    if isinstance(layout_spec, (dict, str)) and layout_spec not in ("BTD",):
        layout = get_layout(layout_spec)
    else:
        dim = prep.get("dim") or (config.get("model_kwargs") or {}).get("input_dim")
        if not dim:
            raise InvalidInput(f"{version.name}: its preprocessing names no keypoint layout or dim; expected "
                               "preprocessing.json with 'layout' and 'dim' as sequence training writes")
        layout = layout_for_dim(int(dim))
    if prep.get("dim") and int(prep["dim"]) != layout.dim:
        raise InvalidInput(f"{version.name}: preprocessing dim {prep['dim']} does not match layout {layout.name} "
                           f"({layout.dim} values per frame)")
    return SignModelInfo(version.name, version.architecture, "keypoints", glosses, categories, length,
                         _training_window(config, length), layout)


# ---------------------------------------------------------------------------------- recognizers


class _Smoothed:
    """The window, the stride and the EMA shared by both recognizers."""

    def __init__(self, predict: Predict, glosses: Sequence[str], categories: Sequence[str], *, window: int,
                 stride: int, alpha: float) -> None:
        if not glosses:
            raise InvalidInput("sign recognizer: expected at least one gloss")
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise InvalidInput(f"window: expected an integer >= 1, got {window!r}")
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
            raise InvalidInput(f"stride: expected an integer >= 1, got {stride!r}")
        if not 0 < float(alpha) <= 1:
            raise InvalidInput(f"alpha: expected a smoothing factor in (0, 1], got {alpha!r}")
        self.predict_fn = predict
        self.glosses, self.categories = list(glosses), list(categories)
        self.window, self.stride, self.alpha = int(window), int(stride), float(alpha)
        self._frames: deque[Any] = deque(maxlen=self.window)
        self._lock = threading.Lock()
        self._since = 0  # frames fed since the last prediction
        self._smooth: dict[str, np.ndarray] | None = None
        self._state = SignState(window=self.window)

    @property
    def state(self) -> SignState:
        return self._state

    def reset(self) -> None:
        """Forget the window and the smoothed probabilities."""
        with self._lock:
            self._frames.clear()
            self._reset_locked()
            self._since = 0
            self._state = SignState(window=self.window, min_hand_frames=self._state.min_hand_frames,
                                    predictions=self._state.predictions)

    def _reset_locked(self) -> None:
        self._smooth = None

    def _network_input(self) -> np.ndarray:
        raise NotImplementedError

    def _predict_locked(self) -> tuple[float, tuple[str, float]]:
        start = time.perf_counter()
        heads = self.predict_fn(self._network_input())
        latency = (time.perf_counter() - start) * 1000
        if "gloss" not in heads:
            raise InvalidInput(f"sign model output: expected a 'gloss' head, got {sorted(heads)}")
        fresh = {name: np.asarray(p, np.float64).reshape(-1) for name, p in heads.items()}
        if fresh["gloss"].shape[0] != len(self.glosses):
            raise InvalidInput(f"sign model output: {fresh['gloss'].shape[0]} gloss probabilities for "
                               f"{len(self.glosses)} glosses")
        if self._smooth is None:
            self._smooth = fresh
        else:
            self._smooth = {name: self.alpha * p + (1 - self.alpha) * self._smooth.get(name, p)
                            for name, p in fresh.items()}
        best = int(np.argmax(fresh["gloss"]))
        return latency, (self.glosses[best], float(fresh["gloss"][best]))

    def _full_window_state(self, base: dict[str, Any]) -> SignState:
        """With a full window: predict every ``stride`` frames (and on becoming ready); in between,
        the same answer with fresh counters. Called with the lock held."""
        if self._state.status != "ready" or self._since >= self.stride:
            latency, raw = self._predict_locked()
            self._since = 0
            base["predictions"] += 1
            return self._ready_state(base, latency, raw)
        previous = self._state
        return SignState("ready", previous.top, previous.category, latency_ms=previous.latency_ms,
                         raw_top=previous.raw_top, **base)

    def _ready_state(self, base: dict[str, Any], latency: float, raw: tuple[str, float] | None) -> SignState:
        smooth = self._smooth or {}
        gloss = smooth.get("gloss")
        top: tuple[tuple[str, float], ...] = ()
        if gloss is not None:
            order = np.argsort(-gloss, kind="stable")[:TOP_K]
            top = tuple((self.glosses[k], float(gloss[k])) for k in order)
        category = None
        cat = smooth.get("category")
        if cat is not None and self.categories and cat.shape[0] == len(self.categories):
            k = int(np.argmax(cat))
            category = (self.categories[k], float(cat[k]))
        return SignState("ready", top, category, latency_ms=latency, raw_top=raw, **base)


class SignRecognizer(_Smoothed):
    """Keypoint frame vectors in, smoothed gloss / category probabilities out (see the module docstring).

    predict: ``(sequence_length, D) float32 -> {"gloss": (G,) probs, "category": (K,) probs}``
    (``Predictor.predict`` of a sequence version); glosses / categories: the names of the outputs.
    """

    def __init__(self, predict: Predict, glosses: Sequence[str], *, layout: Any, sequence_length: int,
                 categories: Sequence[str] = (), window: int | None = None, stride: int = DEFAULT_STRIDE,
                 alpha: float = DEFAULT_ALPHA, min_hand_frames: int | None = None) -> None:
        from studio.keypoints.layout import get_layout

        super().__init__(predict, glosses, categories, window=window or sequence_length, stride=stride, alpha=alpha)
        self.layout = get_layout(layout)
        self.sequence_length = int(sequence_length)
        if min_hand_frames is None:
            min_hand_frames = max(1, math.ceil(MIN_HAND_FRACTION * self.window))
        if not 0 <= int(min_hand_frames) <= self.window:
            raise InvalidInput(f"min_hand_frames: expected 0..{self.window} (the window), got {min_hand_frames}")
        self.min_hand_frames = int(min_hand_frames)
        hand_slots = [k for side in ("left_hand", "right_hand") for k in self.layout.positions(side)[0]]
        self._hand_values = np.array([3 * k + j for k in hand_slots for j in range(3)], np.int64)
        self._hands: deque[bool] = deque(maxlen=self.window)
        self._state = SignState(window=self.window, min_hand_frames=self.min_hand_frames)

    @classmethod
    def for_version(cls, ref: Any, *, runtime: str = "torch", device: str | None = None,
                    **options: Any) -> SignRecognizer:
        """A recognizer of the keypoint sequence model version ``ref`` (options: window, stride, alpha,
        min_hand_frames)."""
        from studio.inference import load_predictor

        info = sign_model_info(ref)
        if info.input_kind != "keypoints":
            raise InvalidInput(f"{info.name} reads raw frames ({info.architecture}); use ClipRecognizer")
        predictor = load_predictor(info.name, runtime=runtime, device=device)
        options.setdefault("window", info.window)
        return cls(predictor.predict, info.glosses, layout=info.layout, sequence_length=info.sequence_length,
                   categories=info.categories, **options)

    def feed(self, vector: Any) -> SignState:
        """Add one (D,) frame vector; predict when due. The new state."""
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.layout.dim:
            raise InvalidInput(f"frame vector: expected {self.layout.dim} values (layout {self.layout.name}), "
                               f"got {v.shape[0]}")
        if not np.isfinite(v).all():
            raise InvalidInput("frame vector: expected finite values, got NaN or inf")
        with self._lock:
            self._frames.append(v)
            self._hands.append(bool(np.any(v[self._hand_values] != 0)) if len(self._hand_values) else True)
            self._since += 1
            hand_frames = int(sum(self._hands))
            base = dict(frames=len(self._frames), window=self.window, hand_frames=hand_frames,
                        min_hand_frames=self.min_hand_frames, predictions=self._state.predictions)
            if hand_frames < self.min_hand_frames:
                self._smooth = None  # hands gone: the next sign starts afresh
                self._state = SignState("show_hands", **base)
            elif len(self._frames) < self.window:
                self._state = SignState("collecting", **base)
            else:
                self._state = self._full_window_state(base)
            return self._state

    def reset(self) -> None:
        with self._lock:
            self._hands.clear()
        super().reset()

    def _network_input(self) -> np.ndarray:
        from studio.keypoints.layout import resample

        window = np.stack(self._frames)
        first = next((k for k, seen in enumerate(self._hands) if seen), 0)
        window = window[first:]  # not the frames from before the hands came into view
        steps = max(1, int(window.shape[0] * self.sequence_length / self.window + 0.5))
        return window if window.shape[0] == steps else resample(window, steps)


class ClipRecognizer(_Smoothed):
    """Raw frames in (frame-CNN + GRU versions): a window of the last ``window`` frames, each resized
    to ``size`` x ``size`` and normalised with mean / std as the version's preprocessing says."""

    def __init__(self, predict: Predict, glosses: Sequence[str], *, sequence_length: int, size: int,
                 categories: Sequence[str] = (), mean: Sequence[float] = (0.485, 0.456, 0.406),
                 std: Sequence[float] = (0.229, 0.224, 0.225), stride: int = DEFAULT_STRIDE,
                 alpha: float = DEFAULT_ALPHA) -> None:
        super().__init__(predict, glosses, categories, window=sequence_length, stride=stride, alpha=alpha)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
            raise InvalidInput(f"clip frame size: expected an integer >= 8, got {size!r}")
        self.size = int(size)
        self.mean = np.asarray(mean, np.float32).reshape(3, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(3, 1, 1)

    @classmethod
    def for_version(cls, ref: Any, *, runtime: str = "torch", device: str | None = None,
                    **options: Any) -> ClipRecognizer:
        from studio.inference import load_predictor

        info = sign_model_info(ref)
        if info.input_kind != "clip":
            raise InvalidInput(f"{info.name} reads keypoints ({info.architecture}); use SignRecognizer")
        predictor = load_predictor(info.name, runtime=runtime, device=device)
        return cls(predictor.predict, info.glosses, sequence_length=info.sequence_length, size=info.image_size,
                   categories=info.categories, mean=info.mean, std=info.std, **options)

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (3, size, size) float32 normalised."""
        import cv2

        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InvalidInput(f"frame: expected (H, W, 3) uint8 RGB, got shape {getattr(frame, 'shape', None)}")
        small = cv2.resize(frame, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return ((small.astype(np.float32).transpose(2, 0, 1) / 255.0) - self.mean) / self.std

    def feed(self, frame: np.ndarray) -> SignState:
        """Add one camera frame; predict when due. The new state."""
        x = self.prepare(frame)
        with self._lock:
            self._frames.append(x)
            self._since += 1
            base = dict(frames=len(self._frames), window=self.window, hand_frames=0, min_hand_frames=0,
                        predictions=self._state.predictions)
            if len(self._frames) < self.window:
                self._state = SignState("collecting", **base)
            else:
                self._state = self._full_window_state(base)
            return self._state

    def _network_input(self) -> np.ndarray:
        return np.stack(self._frames)


def recognizer_for(ref: Any, *, runtime: str = "torch", device: str | None = None,
                   **options: Any) -> SignRecognizer | ClipRecognizer:
    """The recognizer that fits the version: keypoints -> SignRecognizer, raw frames -> ClipRecognizer.
    ``device`` None: where one prediction is fastest, measured (``studio.live.placement``: a tiny
    classifier is often faster on the CPU than on a GPU; without CUDA it is the CPU)."""
    info = sign_model_info(ref)
    kind = info.input_kind
    cls = ClipRecognizer if kind == "clip" else SignRecognizer
    if kind == "clip":
        options = {k: v for k, v in options.items() if k not in ("window", "min_hand_frames")}
    if device is None:
        from studio.live.placement import fastest_device

        example = np.zeros((info.sequence_length, 3, info.image_size, info.image_size) if kind == "clip"
                           else (info.sequence_length, info.layout.dim), np.float32)
        device = fastest_device(info.name, example, runtime=runtime)[0]
    return cls.for_version(ref, runtime=runtime, device=device, **options)


# ---------------------------------------------------------------------------------- the live slot
