"""SAM (segment-anything) behind the ``Segmenter`` interface.

* Weights load safely: the model is built with random weights by segment-anything's own
  builder, then the checkpoint's state dict is loaded with ``torch.load(...,
  weights_only=True)`` (a file holding pickled code is refused, never executed).
* The model is built lazily (first embedding or prediction) and once per process for each
  (model type, checkpoint hash, device).
* ``id`` = ``sam-<type>-<first 12 hex of the checkpoint's SHA-256>``; the hash is kept in a
  sidecar ``<checkpoint>.sha256`` (keyed by size and mtime) so a 375 MB-2.5 GB file is
  hashed once, not at every start. Random weights (``checkpoint=None``, for tests and
  benchmarks): ``sam-<type>-random0``.
* ``compute_embedding`` does SAM's preprocessing (longest side to 1024, normalise, pad) and
  runs the image encoder under ``torch.inference_mode``; on CUDA in bfloat16 autocast with
  the encoder's attention switched to ``F.scaled_dot_product_attention`` (segment-anything
  1.0 computes attention by hand; :func:`sdpa_attention_forward` is the same maths).
* ``predict`` is stateless: the embedding carries everything (features and the resized
  input size), so one model serves any number of images and threads.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studio.errors import InvalidInput
from studio.segment.base import Embedding, Prediction, Prompt, Segmenter

if TYPE_CHECKING:
    import torch

SAM_TYPES = ("vit_b", "vit_l", "vit_h")
RANDOM_SEED = 0
IMAGE_SIDE = 1024  # SAM's encoder input (longest side, padded square)

_MODELS: dict[tuple[str, str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


# ----------------------------------------------------------------------------- checkpoints


def checkpoint_sha256(path: Path) -> str:
    """SHA-256 hex of ``path``, remembered in ``<path>.sha256`` (JSON: size, mtime_ns,
    sha256) and recomputed only when the file's size or mtime changed. A sidecar that
    cannot be written (read-only folder) is skipped."""
    stat = path.stat()
    sidecar = path.with_name(path.name + ".sha256")
    try:
        known = json.loads(sidecar.read_text())
        if known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns:
            return str(known["sha256"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": value}))
        os.replace(tmp, sidecar)
    except OSError:
        tmp.unlink(missing_ok=True)
    return value


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, read by the studio's one weights-only reader
    (``studio.nets.pretrained.load_state_dict``); InvalidInput naming the SAM file otherwise."""
    from studio.nets.pretrained import load_state_dict as read_state_dict

    try:
        return read_state_dict(path)
    except InvalidInput as exc:
        raise InvalidInput(f"SAM checkpoint {path} refused: expected a plain PyTorch weights file "
                           f"(torch.load with weights_only=True); {exc}") from None


# ---------------------------------------------------------------------------------- SDPA


def sdpa_attention_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """segment-anything's ``image_encoder.Attention.forward`` with the attention computed by
    ``F.scaled_dot_product_attention`` (flash / memory-efficient kernels on CUDA); the
    decomposed relative position term becomes an additive attention bias. Same maths: the
    default SDPA scale is head_dim ** -0.5 = ``self.scale``."""
    import torch
    import torch.nn.functional as F
    from segment_anything.modeling.image_encoder import get_rel_pos

    B, H, W, _ = x.shape
    qkv = self.qkv(x).reshape(B, H * W, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)  # (B, nHead, H*W, C)
    bias = None
    if self.use_rel_pos:
        rh = get_rel_pos(H, H, self.rel_pos_h)
        rw = get_rel_pos(W, W, self.rel_pos_w)
        r_q = q.reshape(B * self.num_heads, H, W, -1)
        rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, rh)
        rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, rw)
        bias = (rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]).reshape(B, self.num_heads, H * W, H * W)
        bias = bias.to(q.dtype)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    out = out.view(B, self.num_heads, H, W, -1).permute(0, 2, 3, 1, 4).reshape(B, H, W, -1)
    return self.proj(out)


def use_sdpa(model: Any) -> int:
    """Switch every attention block of ``model.image_encoder`` to :func:`sdpa_attention_forward`
    (per instance; the class is untouched). Returns how many were switched."""
    from segment_anything.modeling.image_encoder import Attention

    count = 0
    for module in model.image_encoder.modules():
        if isinstance(module, Attention):
            module.forward = types.MethodType(sdpa_attention_forward, module)
            count += 1
    return count


# ------------------------------------------------------------------------------ segmenter


def _build(model_type: str, checkpoint: Path | None, key: tuple[str, str, str], device: torch.device,
           sdpa: bool) -> Any:
    """The model for ``key``, built once per process (thread-safe)."""
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        import torch
        from segment_anything import sam_model_registry

        if checkpoint is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_SEED)
                model = sam_model_registry[model_type](checkpoint=None)
        else:
            model = sam_model_registry[model_type](checkpoint=None)
            state = load_state_dict(checkpoint)
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                lines = str(exc).strip().splitlines()
                raise InvalidInput(f"SAM checkpoint {checkpoint} does not fit SAM {model_type} (is it another "
                                   f"model type? official names: sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth, "
                                   f"sam_vit_h_4b8939.pth): {lines[1].strip() if len(lines) > 1 else lines[0]}") from None
        model.eval().to(device)
        if sdpa:
            use_sdpa(model)
        _MODELS[key] = model
        return model


class SamSegmenter(Segmenter):
    """SAM with the weights in ``checkpoint`` (None: random weights, seeded) on ``device``
    (None: ``studio.device.resolve_device()``). ``sdpa``: attention via SDPA (None: on CUDA)."""

    kind = "sam"

    def __init__(self, model_type: str, checkpoint: Path | None, device: str | None = None,
                 sdpa: bool | None = None) -> None:
        if model_type not in SAM_TYPES:
            raise InvalidInput(f"SAM model type {model_type!r}: expected one of {', '.join(SAM_TYPES)}")
        self.model_type = model_type
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        if self.checkpoint is not None and not self.checkpoint.is_file():
            raise InvalidInput(f"SAM checkpoint {self.checkpoint} does not exist")
        self.weights = f"random{RANDOM_SEED}" if self.checkpoint is None else checkpoint_sha256(self.checkpoint)[:12]
        self.id = f"sam-{model_type}-{self.weights}"
        self._device_setting = device
        self._sdpa = sdpa
        self._device: torch.device | None = None

    # -- lazily resolved ---------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        if self._device is None:
            from studio.device import resolve_device

            self._device = resolve_device(self._device_setting)
        return self._device

    @property
    def name(self) -> str:  # type: ignore[override]
        weights = " (random weights)" if self.checkpoint is None else ""
        return f"SAM {self.model_type} ({self.device.type}){weights}"

    @property
    def model(self) -> Any:
        """segment-anything's ``Sam`` module (built on first use, shared in the process)."""
        device = self.device
        sdpa = device.type == "cuda" if self._sdpa is None else self._sdpa
        key = (self.model_type, self.weights, f"{device}{'+sdpa' if sdpa else ''}")
        model = _MODELS.get(key)
        return model if model is not None else _build(self.model_type, self.checkpoint, key, device, sdpa)

    @property
    def transform(self) -> Any:
        from segment_anything.utils.transforms import ResizeLongestSide

        return ResizeLongestSide(IMAGE_SIDE)

    # -- the interface -----------------------------------------------------------------------
    def preprocess(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """(H, W, 3) uint8 RGB -> ((1, 3, 1024, 1024) float32 normalised and padded on the
        model's device, (h, w) of the resized image before padding). As ``SamPredictor``."""
        import torch

        model = self.model
        resized = self.transform.apply_image(image)
        tensor = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
        return model.preprocess(tensor), (int(resized.shape[0]), int(resized.shape[1]))

    def compute_embedding(self, image: np.ndarray) -> Embedding:
        """Embedding.arrays: "features" (1, 256, 64, 64) float32, the image encoder's output;
        "input_size" (2,) int32, (h, w) of the image resized to longest side 1024."""
        import torch

        model = self.model
        with torch.inference_mode():
            pixels, input_size = self.preprocess(image)
            if self.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    features = model.image_encoder(pixels)
            else:
                features = model.image_encoder(pixels)
            features = features.float().cpu().numpy()
        return Embedding(self.id, (int(image.shape[0]), int(image.shape[1])),
                         {"features": features, "input_size": np.array(input_size, np.int32)})

    def predict(self, embedding: Embedding, prompt: Prompt, multimask: bool = True) -> Prediction:
        """As ``SamPredictor.predict`` (same inputs, same outputs), without its image state."""
        import torch

        self._check(embedding, prompt)
        arrays = embedding.arrays
        if "features" not in arrays or "input_size" not in arrays:
            raise InvalidInput(f"embedding of {embedding.segmenter_id!r} lacks 'features' / 'input_size' "
                               f"(got {sorted(arrays)}); compute it again")
        model, device, transform = self.model, self.device, self.transform
        original = embedding.image_size
        input_size = (int(arrays["input_size"][0]), int(arrays["input_size"][1]))
        with torch.inference_mode():
            features = torch.as_tensor(np.asarray(arrays["features"], np.float32), device=device)
            points = None
            if len(prompt.points):
                coords = transform.apply_coords(prompt.points.astype(np.float32), original)
                points = (torch.as_tensor(coords, dtype=torch.float, device=device)[None],
                          torch.as_tensor(prompt.labels, dtype=torch.int, device=device)[None])
            boxes = None
            box = prompt.box  # as given (a drag may end outside the image); SAM clamps nothing either
            if box is not None:
                boxes = torch.as_tensor(transform.apply_boxes(box.astype(np.float32), original),
                                        dtype=torch.float, device=device)[None]
            masks_in = None
            if prompt.mask_input is not None:
                masks_in = torch.as_tensor(prompt.mask_input, dtype=torch.float, device=device)[None]
            sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=masks_in)
            low_res, iou = model.mask_decoder(image_embeddings=features, image_pe=model.prompt_encoder.get_dense_pe(),
                                              sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                              multimask_output=multimask)
            masks = model.postprocess_masks(low_res, input_size, original) > model.mask_threshold
            return Prediction(masks[0].cpu().numpy(), iou[0].float().cpu().numpy().astype(np.float32),
                              low_res[0].float().cpu().numpy().astype(np.float32))


def clear_models() -> None:
    """Forget the built models (tests; frees memory)."""
    with _MODELS_LOCK:
        _MODELS.clear()


__all__ = ["SAM_TYPES", "SamSegmenter", "checkpoint_sha256", "clear_models",
           "load_state_dict", "sdpa_attention_forward", "use_sdpa"]
