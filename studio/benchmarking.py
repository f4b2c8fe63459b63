"""Inference speed of a model version: latency, throughput and peak memory per runtime and device.

What is timed: the network's forward pass on an already preprocessed random batch
((B, 3, H, W) float32, H and W rounded up to the model's size multiple), through the same
``studio.inference`` predictor the rest of the studio uses. Pre- and post-processing (resize,
NMS, mask upsampling) are not in the figure, so runtimes compare like for like. CUDA work is
synchronised before each clock read.

Peak memory:

- CUDA (torch runtime): ``torch.cuda.max_memory_allocated`` over the timed loop (reset first),
  i.e. tensors allocated by PyTorch; onnxruntime's CUDA arena is not visible to it (None).
- CPU: growth of the process's resident set size (psutil RSS, sampled every 2 ms by a
  background thread during warm-up and the timed loop) over the RSS just before: what the
  run added on top of the already loaded model. Approximate by nature (allocator caching,
  sampling), documented as such on the row.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from studio.errors import InvalidInput
from studio.inference import DEFAULT_IMAGE_SIZE, RUNTIMES, as_version, load_predictor
from studio.tables import ModelVersion

RUNTIME_LABELS = {"torch": "torch", "onnx": "onnxruntime", "onnx_int8": "onnxruntime int8"}  # ModelBenchmark.runtime


@dataclass(frozen=True)
class BenchResult:
    """Latency statistics of ``iters`` timed forward passes of one batch.

    latency_*_ms: per batch; fps: images per second (batch_size / mean latency);
    peak_memory_mb: see the module docstring (None where it cannot be measured);
    size: (H, W) actually run; device: described ("cpu (2 threads)", "cuda:0 NVIDIA H100 ...");
    provider: what ran the network ("torch compiled (inductor, CUDA graphs, bfloat16,
    channels_last)", "torch eager (float32)", "onnxruntime TensorRT" | "CUDA" | "CPU");
    warmup_seconds: the untimed passes together (a compiled runtime compiles there).
    """

    model: str
    model_version_id: int
    runtime: str
    device: str
    batch_size: int
    size: tuple[int, int]
    latency_mean_ms: float
    latency_std_ms: float
    latency_p95_ms: float
    fps: float
    peak_memory_mb: float | None
    warmup: int
    iters: int
    provider: str = ""
    warmup_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _RssSampler:
    """Peak RSS growth (MB) of this process while active (psutil; None if unavailable)."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval, self.peak, self.base = interval, 0, 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import psutil

            self._process: Any = psutil.Process()
        except Exception:  # noqa: BLE001 (psutil missing or not permitted)
            self._process = None

    def __enter__(self) -> _RssSampler:
        if self._process is not None:
            self.base = self.peak = self._process.memory_info().rss
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth_mb(self) -> float | None:
        return None if self._process is None else max(self.peak - self.base, 0) / 2**20


def default_size(task: str, version: ModelVersion | None = None) -> tuple[int, int]:
    """The side the version was trained at (its preprocessing's ``image_size``), square; without
    one 512 x 512 semantic, 640 x 640 YOLO, 224 x 224 classification; (32, 156)-like for sequences."""
    if version is not None and task in DEFAULT_IMAGE_SIZE:
        from studio.inference.network import version_preprocessing

        trained = version_preprocessing(version).get("image_size")
        if isinstance(trained, int) and not isinstance(trained, bool) and trained > 0:
            return trained, trained
    side = DEFAULT_IMAGE_SIZE.get(task, 224)
    return side, side


def benchmark(ref: str | int | ModelVersion, runtime: str = "torch", *, batch_size: int = 1,
              size: tuple[int, int] | int | None = None, warmup: int = 3, iters: int = 20,
              device: str | None = None, compile: bool | str | None = None) -> BenchResult:
    """Time ``iters`` forward passes (after ``warmup`` untimed ones) of a random batch of
    ``batch_size`` at ``size`` (H, W) (an int means square; default: the version's training size,
    :func:`default_size`) on ``runtime``
    ("torch" | "onnx" | "onnx_int8") and ``device`` (None: the configured one); ``compile``: the
    torch runtime compiled or not (None: STUDIO_COMPILE, auto = on CUDA). The compiled runtime
    needs ``warmup`` >= 1 to leave its compile out of the figure."""
    import torch

    from studio.device import describe_device

    if runtime not in RUNTIMES:
        raise InvalidInput(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    for what, value, low in (("batch_size", batch_size, 1), ("iters", iters, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInput(f"{what}: expected an integer >= {low}, got {value!r}")
    version = as_version(ref)
    hw = (size, size) if isinstance(size, int) else tuple(size) if size is not None else default_size(version.task, version)
    if len(hw) != 2 or any(int(s) < 1 for s in hw):
        raise InvalidInput(f"size: expected (H, W) positive ints, got {size!r}")
    predictor = load_predictor(version, runtime=runtime, device=device, compile=compile)
    x = predictor.example_input(batch_size, (int(hw[0]), int(hw[1])))
    if runtime == "torch":
        x = torch.from_numpy(x).to(predictor.device)  # the copy to the device is not part of the figure
    cuda = predictor.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(predictor.device)
        torch.cuda.reset_peak_memory_stats(predictor.device)
    times = np.empty(iters, np.float64)
    with _RssSampler() as rss:
        warm_started = time.perf_counter()
        for _ in range(warmup):
            predictor.run_network(x)
            predictor.synchronize()
        warmup_seconds = time.perf_counter() - warm_started
        for i in range(iters):
            start = time.perf_counter()
            predictor.run_network(x)
            predictor.synchronize()
            times[i] = time.perf_counter() - start
    if cuda:
        peak = torch.cuda.max_memory_allocated(predictor.device) / 2**20 if runtime == "torch" else None
    else:
        peak = rss.growth_mb
    ms = times * 1000.0
    mean = float(ms.mean())
    run_hw = tuple(int(s) for s in x.shape[-2:]) if predictor.input_kind != "keypoints" else tuple(int(s) for s in x.shape[1:])
    return BenchResult(model=version.name, model_version_id=int(version.id), runtime=runtime,  # type: ignore[arg-type]
                       device=describe_device(predictor.device), provider=predictor.provider,
                       warmup_seconds=warmup_seconds,
                       batch_size=batch_size, size=run_hw,  # type: ignore[arg-type]
                       latency_mean_ms=mean, latency_std_ms=float(ms.std(ddof=1)) if iters > 1 else 0.0,
                       latency_p95_ms=float(np.percentile(ms, 95)), fps=batch_size * 1000.0 / mean if mean > 0 else 0.0,
                       peak_memory_mb=peak, warmup=warmup, iters=iters)


def store_benchmark(version_id: int, result: BenchResult, job_id: str | None = None) -> int:
    """Write ``result`` as a ModelBenchmark row of ``version_id`` (one transaction); its id."""
    from studio.db import session_scope
    from studio.errors import NotFound
    from studio.tables import ModelBenchmark

    with session_scope() as session:
        if session.get(ModelVersion, version_id) is None:
            raise NotFound(f"no model version {version_id}")
        if job_id is not None:
            from sqlmodel import select

            done = session.exec(select(ModelBenchmark.id).where(ModelBenchmark.job_id == job_id)).first()
            if done is not None:
                return int(done)  # a requeued job that stored it before: once only
        row = ModelBenchmark(model_version_id=version_id, runtime=RUNTIME_LABELS.get(result.runtime, result.runtime),
                             device=result.device, batch_size=result.batch_size,
                             input_size="x".join(str(s) for s in result.size), latency_mean_ms=result.latency_mean_ms,
                             latency_std_ms=result.latency_std_ms, latency_p95_ms=result.latency_p95_ms,
                             fps=result.fps, peak_memory_mb=result.peak_memory_mb, provider=result.provider,
                             job_id=job_id)
        session.add(row)
        session.flush()
        return int(row.id)  # type: ignore[arg-type]


def list_benchmarks(ref: str | int | ModelVersion | None = None) -> list[dict[str, Any]]:
    """Stored benchmarks (newest first), of one version when given, as dicts for tables."""
    from sqlmodel import col, select

    from studio.db import session_scope
    from studio.tables import ModelBenchmark

    query = select(ModelBenchmark, ModelVersion.name).join(ModelVersion).order_by(col(ModelBenchmark.id).desc())
    if ref is not None:
        query = query.where(ModelBenchmark.model_version_id == as_version(ref).id)
    with session_scope() as session:
        return [{"model": name, **row.model_dump()} for row, name in session.exec(query).all()]
