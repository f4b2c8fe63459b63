"""The live frame pipeline: camera frames in, annotated side-by-side frames out, latency bounded.

    pipeline = LivePipeline([Slot("A", predictor_a.predict, draw_a), Slot("B", ...)])
    pipeline.start()
    out = pipeline.process(frame)   # camera thread: never waits for inference
    pipeline.stop()

``process`` hands the frame to one inference thread and returns at once with the newest
finished result (drawn on *that* result's frame, so overlay and picture always match). When
inference is slower than the camera, a new frame **replaces** the waiting one: frames are
dropped, never queued, so the delay stays under one inference time plus one frame.

Two models side by side run **concurrently** (``concurrent``, default on for two slots): each
slot on a thread of its own (and, on CUDA, a stream of its own), so the GPU works on both at
once and the frame's time is the slower model's, not the sum; results are the ones the models
give one after the other (tested). On a 2-core CPU it pays too (README's Figures: 2.3 instead
of 1.8 FPS for two UNet-r18), since one model's Python and pre/post-processing overlap the
other's kernels; ``concurrent=False`` runs them in turn.

Frames are (H, W, 3) uint8 RGB. Each slot's ``draw(frame, output) -> frame`` draws its model's
output; the pipeline adds the slot name, its latency and the pipeline FPS, and concatenates
the slots left to right.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

Draw = Callable[[np.ndarray, Any], np.ndarray]


@dataclass
class Slot:
    """One model on the live page: ``infer(frame) -> output``, ``draw(frame, output) -> frame``."""

    name: str
    infer: Callable[[np.ndarray], Any]
    draw: Draw
    tag: str = ""  # short label drawn on the frame ("A"); default the name
    device: str = "cpu"  # where infer runs ("cuda:0": the slot gets a CUDA stream of its own)
    warmup: Callable[[], str] | None = None  # one line on compiling / warming up (the page shows it)


@dataclass(frozen=True)
class LiveStats:
    frames_in: int  # frames handed to process()
    frames_done: int  # frames that went through every slot
    frames_dropped: int  # frames replaced before inference took them
    fps: float  # finished frames per second over the last 30 (0 when none came for 5 s)
    latency_ms: dict[str, float]  # per slot, mean over the last 30 frames
    error: str | None = None  # the last inference error (the pipeline keeps running)
    concurrent: bool = False  # the slots run at the same time (threads; CUDA streams)
    warmup: dict[str, str] = field(default_factory=dict)  # per slot with a warm-up: its state line


@dataclass
class _Result:
    frame: np.ndarray
    outputs: list[Any]
    latency_ms: list[float]
    finished: float


@dataclass
class _State:
    pending: np.ndarray | None = None
    latest: _Result | None = None
    frames_in: int = 0
    frames_done: int = 0
    frames_dropped: int = 0
    done_times: deque[float] = field(default_factory=lambda: deque(maxlen=120))
    latencies: list[deque[float]] = field(default_factory=list)
    error: str | None = None


class LivePipeline:
    """Drop-when-busy inference over one or more slots (see the module docstring)."""

    def __init__(self, slots: list[Slot], *, overlay_stats: bool = True, concurrent: bool | None = None) -> None:
        if not slots:
            raise ValueError("LivePipeline: expected at least one slot")
        self.slots = slots
        self.overlay_stats = overlay_stats
        self.concurrent = (True if concurrent is None else bool(concurrent)) and len(slots) > 1
        self._pool = ThreadPoolExecutor(len(slots), thread_name_prefix="live-slot") if self.concurrent else None
        self._streams = [_stream_for(s.device) for s in slots]
        self._state = _State(latencies=[deque(maxlen=30) for _ in slots])
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = False
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LivePipeline:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="live-inference", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> LivePipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- camera side -------------------------------------------------------------------------
    def submit(self, frame: np.ndarray) -> None:
        """Offer a frame to inference; replaces (drops) a frame still waiting."""
        with self._wake:
            state = self._state
            state.frames_in += 1
            if state.pending is not None:
                state.frames_dropped += 1
            state.pending = frame
            self._wake.notify()

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Submit ``frame`` and return the newest finished result drawn side by side
        (the camera frame with a 'warming up' note until the first result)."""
        self.submit(frame)
        return self.render(frame)

    def render(self, fallback: np.ndarray) -> np.ndarray:
        with self._lock:
            latest = self._state.latest
        if latest is None:
            tiles = [_label(fallback.copy(), f"{s.name}: warming up") for s in self.slots]
            return np.concatenate(tiles, axis=1)
        stats = self.stats()
        tiles = []
        for slot, output, ms in zip(self.slots, latest.outputs, latest.latency_ms):
            tile = latest.frame.copy() if output is None else slot.draw(latest.frame.copy(), output)
            if self.overlay_stats:
                tile = _label(tile, f"{slot.tag or slot.name} · {ms:.0f} ms · {stats.fps:.1f} FPS")
            tiles.append(tile)
        return np.concatenate(tiles, axis=1)

    def stats(self) -> LiveStats:
        with self._lock:
            s = self._state
            now = time.monotonic()
            recent = list(s.done_times)[-30:]  # the last 30 results, if the stream is still going
            span = (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
            fps = (len(recent) - 1) / span if span > 0 and now - recent[-1] < 5.0 else 0.0
            latency = {slot.name: (sum(d) / len(d) if d else 0.0) for slot, d in zip(self.slots, s.latencies)}
            counts = (s.frames_in, s.frames_done, s.frames_dropped)
            error = s.error
        warmup = {slot.name: slot.warmup() for slot in self.slots if slot.warmup is not None}
        return LiveStats(*counts, fps, latency, error, self.concurrent, warmup)

    def wait_for_results(self, count: int, timeout: float = 30.0) -> LiveStats:
        """Block until ``count`` frames finished (tests, benchmarks); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while self.stats().frames_done < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"live pipeline: {self.stats().frames_done}/{count} frames after {timeout} s")
            time.sleep(0.005)
        return self.stats()

    # -- inference side ----------------------------------------------------------------------
    def infer_all(self, frame: np.ndarray) -> tuple[list[Any], list[float], str | None]:
        """Every slot on ``frame`` -- at the same time when ``concurrent``, else one after the
        other: (outputs (None for a slot that failed), latency ms per slot, the last error)."""
        if self._pool is not None:
            futures = [self._pool.submit(self._infer_one, k, frame) for k in range(len(self.slots))]
            results = [f.result() for f in futures]
        else:
            results = [self._infer_one(k, frame) for k in range(len(self.slots))]
        errors = [e for _, _, e in results if e is not None]
        return [o for o, _, _ in results], [ms for _, ms, _ in results], (errors[-1] if errors else None)

    def _infer_one(self, k: int, frame: np.ndarray) -> tuple[Any, float, str | None]:
        slot, stream = self.slots[k], self._streams[k]
        start = time.perf_counter()
        output, error = None, None
        try:
            if stream is not None:
                import torch

                with torch.cuda.stream(stream):
                    output = slot.infer(frame)
                stream.synchronize()
            else:
                output = slot.infer(frame)
        except Exception as exc:  # noqa: BLE001 - a bad frame or model must not end the stream
            error = f"{slot.name}: {exc}"
        return output, (time.perf_counter() - start) * 1000, error

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._state.pending is None and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                frame, self._state.pending = self._state.pending, None
            outputs, latencies, error = self.infer_all(frame)
            with self._lock:
                s = self._state
                s.latest = _Result(frame, outputs, latencies, time.monotonic())
                s.frames_done += 1
                s.done_times.append(s.latest.finished)
                for d, ms in zip(s.latencies, latencies):
                    d.append(ms)
                s.error = error


def _stream_for(device: str) -> Any:
    """A CUDA stream of its own for a slot on a CUDA device (None elsewhere or without CUDA)."""
    if not str(device).startswith("cuda"):
        return None
    import torch

    return torch.cuda.Stream(torch.device(device)) if torch.cuda.is_available() else None


def _label(frame: np.ndarray, text: str) -> np.ndarray:
    """Draw ``text`` on a dark band at the top-left of ``frame`` (in place; returned)."""
    scale = max(frame.shape[1] / 1100, 0.45)
    thickness = max(int(scale * 2), 1)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.rectangle(frame, (0, 0), (w + 12, h + base + 12), (0, 0, 0), -1)
    cv2.putText(frame, text, (6, h + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return frame
