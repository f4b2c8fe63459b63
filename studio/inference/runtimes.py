"""Where a ``Network`` runs: torch (any device) or onnxruntime; both take a preprocessed
batch and return a tuple of float32 torch tensors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from studio.errors import InvalidInput
from studio.inference.network import Network

Runtime = Literal["torch", "onnx", "onnx_int8"]
RUNTIMES: tuple[str, ...] = ("torch", "onnx", "onnx_int8")  # onnx_int8: the version's INT8 file (studio export int8)

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")  # tried in this order, then the CPU
PROVIDER_NAMES = {"TensorrtExecutionProvider": "TensorRT", "CUDAExecutionProvider": "CUDA",
                  "CPUExecutionProvider": "CPU"}


def provider_order(available: Sequence[str], gpu: bool) -> list[str]:
    """The providers to ask onnxruntime for, best first: TensorRT -> CUDA -> CPU, each only
    when ``available`` has it and ``gpu`` (the device asked for is a GPU); the CPU always."""
    order = [p for p in GPU_PROVIDERS if p in available] if gpu else []
    return [*order, "CPUExecutionProvider"]


def provider_name(session: Any) -> str:
    """The provider a session actually runs on: the first it kept (onnxruntime drops one that
    fails to start, e.g. TensorRT without its libraries), as "TensorRT" | "CUDA" | "CPU"."""
    kept = list(session.get_providers()) if session is not None else []
    first = kept[0] if kept else "CPUExecutionProvider"
    return PROVIDER_NAMES.get(first, first.removesuffix("ExecutionProvider"))


def onnx_providers(device: Any) -> list[Any]:
    """``provider_order`` of what this onnxruntime has, for ``device`` (a GPU only when it is
    CUDA and torch sees one), with each provider's options: TensorRT caches its engines under
    ``<data dir>/compile_cache/tensorrt`` (built once, minutes) and may use fp16; CUDA runs on
    the device's index."""
    import torch

    ort = import_onnxruntime()
    gpu = getattr(device, "type", str(device)) == "cuda" and torch.cuda.is_available()
    order = provider_order(ort.get_available_providers(), gpu)
    index = getattr(device, "index", None) or 0
    result: list[Any] = []
    for name in order:
        if name == "TensorrtExecutionProvider":
            from studio.config import get_settings

            cache = get_settings().data_dir / "compile_cache" / "tensorrt"
            cache.mkdir(parents=True, exist_ok=True)
            result.append((name, {"device_id": index, "trt_engine_cache_enable": True,
                                  "trt_engine_cache_path": str(cache), "trt_fp16_enable": True}))
        elif name == "CUDAExecutionProvider":
            result.append((name, {"device_id": index}))
        else:
            result.append(name)
    return result


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module; StudioError saying which extra installs it when it is missing."""
    try:
        import onnxruntime
    except ImportError:
        from studio.errors import StudioError

        raise StudioError("onnxruntime is not installed: pip install -e '.[cpu]' (or '.[gpu]' on a CUDA machine, "
                          "which installs onnxruntime-gpu; see README, GPU)") from None
    return onnxruntime


def onnx_session(path: Path, device: Any = "cpu") -> Any:
    """An onnxruntime InferenceSession of ``path``; InvalidInput naming the file and the reason
    when it does not load."""
    ort = import_onnxruntime()

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"ONNX file {path} does not exist; expected one written by `studio export onnx`")
    providers = onnx_providers(device)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # noqa: BLE001 (onnxruntime raises its own Fail / InvalidProtobuf / ...)
        reason = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"{path.name}: onnxruntime cannot load it ({reason}); expected an ONNX model "
                           "(with its .onnx.data beside it, if any) as `studio export onnx` writes") from None


class TorchRunner:
    """Runs a ``Network`` on a torch device: tensors in, tuple of float32 tensors (on device) out."""

    def __init__(self, network: Network, device: Any) -> None:
        import torch

        self.device = device
        self.module = network.module.to(device).eval()
        self.channels_last = device.type == "cuda" and network.input_kind == "image"
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.autocast_dtype = None
        if device.type == "cuda":
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    size_multiple = 1  # no shape buckets: any input shape runs as it is

    @property
    def provider(self) -> str:
        """What runs the network: "torch eager (float32)" or, on CUDA, with autocast and channels_last."""
        if self.autocast_dtype is not None:
            dtype = str(self.autocast_dtype).replace("torch.", "")
            return f"torch eager (autocast {dtype}{', channels_last' if self.channels_last else ''})"
        return "torch eager (float32)"

    def __call__(self, x: Any) -> tuple[Any, ...]:
        import torch

        x = torch.as_tensor(x).to(self.device, torch.float32, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            if self.autocast_dtype is not None:
                with torch.autocast("cuda", dtype=self.autocast_dtype):
                    out = self.module(x)
            else:
                out = self.module(x)
            return tuple(o.float() for o in out)

    def synchronize(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


class OnnxRunner:
    """Runs an onnxruntime session: array in, tuple of float32 CPU tensors out (ordered as
    ``output_names`` when the file uses those names, else as the file lists them)."""

    def __init__(self, session: Any, output_names: Sequence[str]) -> None:
        self.session = session
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise InvalidInput(f"ONNX model: expected one input (the image / sequence), got "
                               f"{[i.name for i in inputs]}")
        self.input_name = inputs[0].name
        present = [o.name for o in session.get_outputs()]
        self.outputs = list(output_names) if all(n in present for n in output_names) else present
        self.device = None

    size_multiple = 1

    @property
    def provider(self) -> str:
        """"onnxruntime TensorRT" | "onnxruntime CUDA" | "onnxruntime CPU": the provider in use."""
        return f"onnxruntime {provider_name(self.session)}"

    def __call__(self, x: Any) -> tuple[Any, ...]:
        import torch

        array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        results = self.session.run(self.outputs, {self.input_name: np.ascontiguousarray(array, np.float32)})
        return tuple(torch.from_numpy(np.asarray(r, np.float32)) for r in results)

    def synchronize(self) -> None:
        """Nothing: ``session.run`` returns when the outputs are on the host."""
