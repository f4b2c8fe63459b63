"""Where a small network runs fastest, measured rather than assumed.

A sign classifier is tiny (a window of 32 x 156 values through a few layers): on a GPU its
time is kernel launches, and it was measured slower there (1.1 ms) than on the CPU (0.8 ms)
on the H200 machine. So the live sign demo times each candidate device on a window of the
model's own shape and keeps the fastest (eager: a tiny model does not repay a compile of tens
of seconds). On a machine without CUDA the only candidate is the CPU, chosen without timing.

    device, timings = fastest_device(ref, np.zeros((32, 156), np.float32))
    # ("cpu", {"cpu": 0.41, "cuda": 0.93})   ms per prediction, median
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

_CHOSEN: dict[tuple[Any, ...], tuple[str, dict[str, float]]] = {}
_LOCK = threading.Lock()


def candidate_devices() -> list[str]:
    """"cpu", and "cuda" when torch sees a GPU."""
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def time_predictions(predictor: Any, example: np.ndarray, iters: int = 30, warmup: int = 3) -> float:
    """Median ms of ``predictor.predict(example)`` over ``iters`` calls (after ``warmup``)."""
    for _ in range(warmup):
        predictor.predict(example)
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        predictor.predict(example)
        times.append((time.perf_counter() - started) * 1000.0)
    return float(np.median(times))


def fastest_device(ref: Any, example: np.ndarray, *, runtime: str = "torch", candidates: Sequence[str] | None = None,
                   iters: int = 30) -> tuple[str, dict[str, float]]:
    """(the device among ``candidates`` (default ``candidate_devices()``) where the version's
    eager predictor answers ``example`` fastest, {device: median ms}); one candidate is chosen
    untimed ({}). Cached per (version, runtime, candidates) in this process."""
    from studio.inference import as_version, load_predictor

    version = as_version(ref)
    devices = list(candidates) if candidates is not None else candidate_devices()
    key = (version.id, version.name, runtime, tuple(devices), tuple(example.shape))
    with _LOCK:
        if key in _CHOSEN:
            return _CHOSEN[key]
    if len(devices) == 1:
        choice: tuple[str, dict[str, float]] = (devices[0], {})
    else:
        timings = {d: time_predictions(load_predictor(version, runtime=runtime, device=d, compile=False), example, iters)
                   for d in devices}
        choice = (min(timings, key=timings.__getitem__), timings)
    with _LOCK:
        _CHOSEN[key] = choice
    return choice
