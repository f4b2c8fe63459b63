"""studio.benchmarking: real timings of a small real model on both runtimes, stored as rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_inference import unet_version


@pytest.fixture(scope="module")
def unet(module_studio: Path) -> Any:
    return unet_version(module_studio)


def test_benchmark_fields_are_sane_and_stored(unet: Any) -> None:
    from studio.benchmarking import benchmark, list_benchmarks, store_benchmark
    from studio.db import session_scope
    from studio.tables import ModelBenchmark

    result = benchmark(unet.name, "torch", batch_size=2, size=(64, 80), warmup=1, iters=4, device="cpu")
    assert result.runtime == "torch" and result.device.startswith("cpu") and result.batch_size == 2
    assert result.provider == "torch eager (float32)"  # STUDIO_COMPILE auto: eager on a CPU
    assert result.size == (64, 96)  # rounded up to the UNet's multiple of 32
    assert result.latency_mean_ms > 0
    assert result.latency_std_ms >= 0 and result.latency_p95_ms > 0
    assert result.fps == pytest.approx(2 * 1000.0 / result.latency_mean_ms)
    assert result.peak_memory_mb is None or result.peak_memory_mb >= 0
    row_id = store_benchmark(unet.id, result)
    with session_scope() as session:
        row = session.get(ModelBenchmark, row_id)
        assert (row.runtime, row.input_size, row.batch_size) == ("torch", "64x96", 2)
        assert row.provider == "torch eager (float32)"
        assert row.latency_mean_ms == pytest.approx(result.latency_mean_ms) and row.fps == pytest.approx(result.fps)
    assert [b["id"] for b in list_benchmarks(unet.id)] == [row_id]


def test_default_size_is_the_versions_training_size(unet: Any, module_studio: Path) -> None:
    from studio.benchmarking import benchmark, default_size
    from tests.test_inference import make_version

    assert default_size("semantic", unet) == (64, 64)  # trained at 64 px: benchmarked at 64, not 512
    result = benchmark(unet.name, "torch", warmup=0, iters=1, device="cpu")
    assert result.size == (64, 64)
    untold = make_version(module_studio, "semantic", "unet", "resnet18")  # no image_size recorded
    assert default_size("semantic", untold) == (512, 512) and default_size("classification") == (224, 224)


def test_onnx_runtime_benchmark(unet: Any) -> None:
    from studio.benchmarking import benchmark, store_benchmark
    from studio.exporting import export_onnx

    export_onnx(unet.id, check=False)
    result = benchmark(unet.id, "onnx", size=64, warmup=1, iters=3)
    assert result.runtime == "onnx" and result.provider == "onnxruntime CPU" and result.size == (64, 64)
    assert result.latency_mean_ms > 0 and result.iters == 3
    from studio.db import session_scope
    from studio.tables import ModelBenchmark

    with session_scope() as session:
        row = session.get(ModelBenchmark, store_benchmark(unet.id, result))
        assert (row.runtime, row.provider) == ("onnxruntime", "onnxruntime CPU")


def test_bad_arguments_are_refused(unet: Any) -> None:
    from studio.benchmarking import benchmark
    from studio.errors import InvalidInput

    with pytest.raises(InvalidInput, match="runtime 'tvm'"):
        benchmark(unet.id, "tvm")
    with pytest.raises(InvalidInput, match="iters: expected an integer >= 1"):
        benchmark(unet.id, iters=0)
