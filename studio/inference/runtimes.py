"""Where a ``Network`` runs: torch (any device) or onnxruntime; both take a preprocessed
batch and return a tuple of float32 torch tensors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from studio.errors import InvalidInput
from studio.inference.network import Network

Runtime = Literal["torch", "onnx"]
RUNTIMES: tuple[str, ...] = ("torch", "onnx")


def onnx_providers(device: Any) -> list[str]:
    """CUDAExecutionProvider first when onnxruntime has it, torch sees a GPU and ``device`` is CUDA."""
    import onnxruntime as ort
    import torch

    if getattr(device, "type", str(device)) == "cuda" and torch.cuda.is_available() \
            and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def onnx_session(path: Path, device: Any = "cpu") -> Any:
    """An onnxruntime InferenceSession of ``path``; InvalidInput naming the file and the reason
    when it does not load."""
    import onnxruntime as ort

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

    def __call__(self, x: Any) -> tuple[Any, ...]:
        import torch

        array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        results = self.session.run(self.outputs, {self.input_name: np.ascontiguousarray(array, np.float32)})
        return tuple(torch.from_numpy(np.asarray(r, np.float32)) for r in results)

    def synchronize(self) -> None:
        """Nothing: ``session.run`` returns when the outputs are on the host."""
