"""Local pretrained weights: where they live, how they are read. Nothing here downloads.

All pretrained files sit flat in ``<settings.models_dir>/pretrained/`` (``STUDIO_MODELS_DIR``,
default ``models/``), named after what they hold:

==============================  =============================================================
file                            holds
==============================  =============================================================
``resnet18.pth`` (34, 50)       torchvision ImageNet ResNet state_dict (the file torchvision
                                publishes, e.g. ``resnet18-f37072fd.pth``, also matches
                                ``resnet18-*.pth``); used by the classifier *and* as the
                                UNet / DeepLabV3+ encoder (the ``fc.`` keys are dropped)
``mobilenet_v2.pth``            torchvision MobileNetV2 state_dict (smp encoder)
``efficientnet-b0.safetensors`` smp's encoder weights (``model.safetensors`` of the Hugging Face
                                repo ``smp-hub/efficientnet-b0.imagenet``, renamed); ``.pth`` too
``efficientnet_b0.pth``,        torchvision classifier state_dicts (``<name>-*.pth`` matches the
``efficientnet_b1.pth``,        published file names, e.g. ``vgg16-397923af.pth``,
``mobilenet_v2.pth``,           ``resnet101-63fe2227.pth``); ``mobilenet_v2.pth`` is also the
``mobilenet_v3_small.pth``,     smp encoder's file; ``resnet101.pth`` the ResNet-101 classifier's
``mobilenet_v3_large.pth``,
``densenet121.pth``, ``vgg16.pth``, ``resnet101.pth``
``yolov8n-seg.pt`` (s, m)       ultralytics' official checkpoint (pickled model: trusted-only,
                                see ``studio.nets.yolo``), or a plain state_dict
==============================  =============================================================

State dicts are read with ``torch.load(..., weights_only=True)`` or safetensors, never unpickled.
"""

from __future__ import annotations

from pathlib import Path

import torch

from studio.errors import InvalidInput

SUFFIXES = (".safetensors", ".pth", ".pt")


def pretrained_dir() -> Path:
    """``<settings.models_dir>/pretrained`` (read from the settings each call, so tests can move it)."""
    from studio.config import get_settings

    return Path(get_settings().models_dir) / "pretrained"


def expected_path(stem: str, suffix: str = ".pth") -> Path:
    """The path the documentation and error messages name for ``stem`` (e.g. ``resnet18``)."""
    return pretrained_dir() / f"{stem}{suffix}"


def find_pretrained(stem: str) -> Path | None:
    """The first of ``<dir>/<stem>.safetensors|.pth|.pt`` or ``<dir>/<stem>-*.pth`` that exists, else None."""
    folder = pretrained_dir()
    for suffix in SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    published = sorted(folder.glob(f"{stem}-*.pth")) if folder.is_dir() else []
    return published[0] if published else None


def missing_message(what: str, stem: str, suffix: str = ".pth") -> str:
    """One line saying which file to put where (used for ``pretrained=True`` without a file)."""
    return (f"pretrained weights for {what} not found: put the file at {expected_path(stem, suffix)} "
            f"(a state_dict; .pth/.pt or .safetensors), or use pretrained=False for random initialisation")


def resolve(pretrained: bool | Path, what: str, stem: str, suffix: str = ".pth") -> Path | None:
    """The weights file a builder should load: None for False, the found file for True, the path itself otherwise.

    InvalidInput naming the exact expected path when ``pretrained`` is True and no file is there.
    """
    if pretrained is False or pretrained is None:
        return None
    if pretrained is True:
        found = find_pretrained(stem)
        if found is None:
            raise InvalidInput(missing_message(what, stem, suffix))
        return found
    return Path(pretrained)


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state_dict from ``path`` (.safetensors, or a torch file read with weights_only=True).

    Accepts a bare state_dict or a dict wrapping one under "state_dict" or "model" (the studio
    checkpoint form); a "module." prefix (DataParallel/DDP) is removed. InvalidInput when the
    file is not a state_dict (for example a pickled model object).
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(path), device="cpu")
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the same user error
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"{path}: expected a state_dict readable with weights_only=True or safetensors, "
                           f"could not read it ({first[:200]})") from None
    if isinstance(data, dict):
        for key in ("state_dict", "model"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise InvalidInput(f"{path}: expected a state_dict (a dict of tensor names to tensors), "
                           f"got {type(data).__name__}")
    if all(k.startswith("module.") for k in data):
        data = {k[len("module."):]: v for k, v in data.items()}
    return data


def load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, what: str,
              skip_prefixes: tuple[str, ...] = ()) -> None:
    """Load ``state`` into ``module`` strictly, except keys under ``skip_prefixes`` (a replaced head).

    InvalidInput naming the first missing / unexpected / wrongly shaped keys when the file does not fit.
    """
    state = {k: v for k, v in state.items() if not k.startswith(skip_prefixes)}
    own = module.state_dict()
    wrong = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
             if k in own and tuple(own[k].shape) != tuple(v.shape)]
    missing = [k for k in own if k not in state and not k.startswith(skip_prefixes)
               and not k.endswith("num_batches_tracked")]  # older published files lack these counters
    unexpected = [k for k in state if k not in own]
    if wrong or missing or unexpected:
        raise InvalidInput(f"{path} does not fit {what}: missing {missing[:3]}, unexpected {unexpected[:3]}, "
                           f"wrong shapes {wrong[:3]}")
    module.load_state_dict(state, strict=False)
