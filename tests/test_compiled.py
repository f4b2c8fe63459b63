"""studio.inference.compiled on CPU: shape buckets, eager fallback, the cache folder, and (one
slow test, the suite's only inductor compiles) compiled outputs equal to eager ones.

Dynamo itself runs in every test here: the cheap ones compile with dynamo's counting backend
(``CompileCounter``, a real torch.compile backend that runs the traced graph eagerly), so
bucketing and fallback are exercised through real tracing; only the slow test runs inductor.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from studio.errors import InvalidInput
from studio.inference import CompiledRunner, Network, Predictor, WarmupState, configure_compile_cache, \
    load_network, load_predictor, provider_order, should_compile
from tests.test_inference import unet_version


class TinyNet(nn.Module):
    """conv -> relu -> conv: (B, 3, H, W) -> a tuple with (B, 4, H, W)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.b(torch.relu(self.a(x))),)


class Branchy(nn.Module):
    """Data-dependent Python control flow: a graph break, which fullgraph compiling refuses."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        y = self.conv(x)
        if float(y.mean()) > 0:  # the value decides which code runs
            return (y * 2,)
        return (y - 1,)


def counting_compiler(counter: Any) -> Any:
    def build(module: nn.Module) -> Any:
        return torch.compile(module, backend=counter, fullgraph=True, dynamic=False)

    return build


@pytest.fixture
def cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The settings' data dir in tmp_path, and the compile cache variables restored afterwards."""
    from tests.conftest import reset_studio_caches

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    for name in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    reset_studio_caches()
    yield tmp_path / "data"
    reset_studio_caches()


def test_shape_buckets_compile_once_per_shape_and_cap_the_count(cache_env: Path) -> None:
    from torch._dynamo.testing import CompileCounter

    torch._dynamo.reset()
    counter = CompileCounter()
    runner = CompiledRunner(Network(TinyNet(0).eval(), ("y",), "image"), "cpu", compiler=counting_compiler(counter),
                            max_graphs=2)
    assert runner.size_multiple == 64
    for shape in [(1, 3, 64, 64), (1, 3, 64, 64), (1, 3, 128, 64), (1, 3, 64, 64), (1, 3, 128, 64)]:
        out = runner(torch.randn(shape))
        assert out[0].shape == (shape[0], 4, *shape[2:]) and out[0].dtype == torch.float32
    assert counter.frame_count == 2  # two shapes, each traced once, then reused
    assert runner.state().shapes == ((1, 3, 64, 64), (1, 3, 128, 64)) and runner.state().status == "ready"
    runner(torch.randn(1, 3, 192, 64))  # a third shape: over max_graphs, runs eagerly, no new graph
    assert counter.frame_count == 2 and len(runner.state().shapes) == 2


def test_the_predictor_pads_images_of_several_sizes_into_one_bucket(module_studio: Path) -> None:
    """UNet at image_size 64: 40x64, 48x64 and 64x64 inputs all run as one 64x64 graph, and
    outputs come back at each input's size, equal to the eager predictor where no extra
    padding was added."""
    from torch._dynamo.testing import CompileCounter

    torch._dynamo.reset()
    version = unet_version(module_studio)
    eager = load_predictor(version, device="cpu", compile=False)
    assert not eager.compiled and eager.provider == "torch eager (float32)"
    counter = CompileCounter()
    network = load_network(version)
    runner = CompiledRunner(network, torch.device("cpu"), compiler=counting_compiler(counter))
    compiled = Predictor(version, "torch", torch.device("cpu"), runner, network.output_names, network.input_kind)
    assert compiled.pad_multiple == 64 and compiled.provider.startswith("torch compiled")
    rng = np.random.default_rng(0)
    for h, w in [(40, 64), (48, 64), (200, 267), (64, 64)]:
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        out = compiled.predict(image)
        assert out.labels.shape == (h, w)
        if (h, w) == (64, 64):
            assert np.array_equal(out.labels, eager.predict(image).labels)
    assert counter.frame_count == 1 and runner.state().shapes == ((1, 3, 64, 64),)


def test_yolo_traces_into_one_graph(module_studio: Path) -> None:
    """YOLOv8n-seg's anchors are built from its strides: as tensors they make dynamo give up
    (the runner hands it Python floats), so the whole network compiles as one graph and gives
    the eager outputs."""
    from torch._dynamo.testing import CompileCounter

    from tests.test_inference import yolo_version

    torch._dynamo.reset()
    version = yolo_version(module_studio)
    counter = CompileCounter()
    runner = CompiledRunner(load_network(version), torch.device("cpu"), compiler=counting_compiler(counter))
    eager = load_predictor(version, device="cpu", compile=False)
    x = torch.rand(1, 3, 128, 128)
    got, expected = runner(x), eager.run_network(x)
    assert runner.state().status == "ready", runner.state().reason
    assert counter.frame_count == 1 and all(torch.equal(a, b) for a, b in zip(got, expected))


def test_a_model_that_does_not_compile_runs_eagerly_with_the_reason_logged(cache_env: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    torch._dynamo.reset()
    module = Branchy().eval()
    runner = CompiledRunner(Network(module, ("y",), "image"), "cpu", backend="eager")
    x = torch.randn(1, 3, 8, 8)
    with caplog.at_level(logging.WARNING, logger="studio.inference.compiled"):
        out = runner(x)
    with torch.inference_mode():
        expected = module(x)[0]
    assert torch.equal(out[0], expected)
    state = runner.state()
    assert state.status == "fallback" and state.reason and "eager" in state.line()
    assert "torch.compile failed" in caplog.text and state.reason in caplog.text
    assert runner.provider == "torch eager float32 (compile failed)"
    assert torch.equal(runner(x)[0], expected)  # and keeps running eagerly


def test_a_compiler_error_falls_back_too(cache_env: Path) -> None:
    def broken(module: nn.Module) -> Any:
        raise RuntimeError("no C++ compiler found")

    runner = CompiledRunner(Network(TinyNet(1).eval(), ("y",), "image"), "cpu", compiler=broken)
    out = runner(torch.ones(1, 3, 64, 64))
    assert out[0].shape == (1, 4, 64, 64)
    assert runner.state().reason == "RuntimeError: no C++ compiler found"


def test_the_compile_cache_lives_under_the_data_dir(cache_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = configure_compile_cache()
    version = torch.__version__.split("+")[0]
    assert folder == cache_env / "compile_cache" / f"torch-{version}" and folder.is_dir()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(folder)
    assert os.environ["TRITON_CACHE_DIR"] == str(folder / "triton")
    assert torch._inductor.config.fx_graph_cache is True
    assert torch._dynamo.config.recompile_limit >= 64
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    assert cache_dir() == str(folder)  # what inductor itself will use
    own = cache_env.parent / "my-cache"  # a folder the user chose is kept
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(own))
    assert configure_compile_cache() == own


@pytest.mark.parametrize("device, setting, expected", [
    ("cuda", "auto", True),   # auto: compile on CUDA
    ("cpu", "auto", False),   # ... and not on a CPU (onnxruntime is faster there, README)
    ("cpu", "on", True),
    ("cuda", "off", False),
    ("cpu", True, True),      # an explicit bool wins
])
def test_when_the_torch_runtime_compiles(device: str, setting: Any, expected: bool) -> None:
    assert should_compile(torch.device(device), setting) is expected


def test_a_bad_compile_setting_is_refused() -> None:
    with pytest.raises(InvalidInput, match="auto, on, off"):
        should_compile(torch.device("cpu"), "sometimes")


@pytest.mark.parametrize("available, gpu, expected", [
    (["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], True,
     ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], True, ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    (["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], False, ["CPUExecutionProvider"]),
    (["AzureExecutionProvider", "CPUExecutionProvider"], True, ["CPUExecutionProvider"]),  # onnxruntime (CPU build)
])
def test_onnxruntime_providers_tensorrt_then_cuda_then_cpu(available: list[str], gpu: bool,
                                                           expected: list[str]) -> None:
    assert provider_order(available, gpu) == expected


def test_warm_up_reports_its_progress_for_an_eager_predictor(module_studio: Path) -> None:
    predictor = load_predictor(unet_version(module_studio, seed=5), device="cpu", compile=False)
    assert predictor.warmup_state() == WarmupState("ready", compiled=False)
    assert predictor.warmup_state().line() == "ready (nothing to compile)"
    seen: list[tuple[float, str]] = []
    state = predictor.warm_up([(48, 64), (64, 64)], progress=lambda f, m: seen.append((f, m)))
    assert state.status == "ready" and state.shapes == ((48, 64), (64, 64))
    assert state.line().startswith("ready: warmed up at 48x64, 64x64 in ")
    assert [f for f, _ in seen] == [0.0, 0.5, 1.0] and "48x64" in seen[0][1]


@pytest.mark.slow
def test_inductor_compiled_outputs_equal_eager_and_fill_the_cache(cache_env: Path) -> None:
    """Two models of one architecture with different weights, compiled by inductor (with
    weight freezing, as on CPU) : each equals its own eager output to 1e-4 x the output's
    scale (fp32; oneDNN's packed convolutions sum in another order), so neither graph carries
    the other's folded weights; the compiled kernels are cached under the data dir."""
    torch._dynamo.reset()
    x = torch.randn(1, 3, 64, 64)
    for seed in (0, 1):
        module = TinyNet(seed).eval()
        with torch.inference_mode():
            expected = module(x)[0].clone()
        runner = CompiledRunner(Network(module, ("y",), "image"), "cpu")
        got = runner(x)[0]
        assert runner.state().status == "ready", runner.state().reason
        scale = max(1.0, float(expected.abs().max()))
        assert float((got - expected).abs().max()) <= 1e-4 * scale
    cache = Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    assert cache.is_relative_to(cache_env) and any(cache.rglob("*.so"))
