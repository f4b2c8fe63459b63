"""The torch device from ``STUDIO_DEVICE`` ("auto": CUDA when present, else CPU). One place
for every feature (segmenters, training, evaluation, live), so they all agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from studio.config import get_settings
from studio.errors import InvalidInput

if TYPE_CHECKING:
    import torch


def resolve_device(setting: str | None = None) -> torch.device:
    """``setting`` (default: the configured one) as a torch device.

    "auto" -> "cuda" when available, else "mps" when available, else "cpu". An explicit
    "cuda" on a machine without CUDA is an InvalidInput naming what is available.
    """
    import torch

    value = (setting or get_settings().device or "auto").strip().lower()
    if value == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(value)
    except RuntimeError:
        raise InvalidInput(f"device {value!r}: expected auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput(f"device {value!r} asked for, but CUDA is not available here; use STUDIO_DEVICE=auto or cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise InvalidInput(f"device {value!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def describe_device(device: torch.device) -> str:
    """"cpu (2 threads)" or "cuda:0 NVIDIA H100 80GB HBM3", for logs, benchmarks and pages."""
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
