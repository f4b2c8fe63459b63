"""SAM (segment-anything) behind the ``Segmenter`` interface.

* Weights load safely: the model is built with random weights by segment-anything's own
  builder, then the checkpoint's state dict is loaded with
  ``torch.load(path, weights_only=True)`` (a file holding pickled code is refused, never executed).
* The model is built lazily (first embedding or prediction) and once per process for each
  (model type, checkpoint hash, device).
* ``id`` = ``sam-<type>-<first 12 hex of the checkpoint's SHA-256>``; the hash is kept in a
  sidecar ``<checkpoint>.sha256`` (keyed by size and mtime) so a 375 MB-2.5 GB file is
  hashed once, not at every start. Random weights (``checkpoint=None``, for tests and
  benchmarks): ``sam-<type>-random0``.
* ``compute_embedding`` does SAM's preprocessing (longest side to 1024, normalise, pad) and
  runs the image encoder under ``torch.inference_mode``. ``compute_embeddings(images)`` does
  the same for a batch in one encoder call (``prepare`` + ``embed_prepared``: the resize can
  run in other threads); batch 1 is the single path.
* The encoder (how fast, not what: decoder and outputs are unchanged):
  - attention by ``F.scaled_dot_product_attention`` (:func:`sdpa_attention_forward`, the same
    maths as segment-anything 1.0's hand-written attention): on CUDA (flash / memory-efficient
    kernels) and on CPUs too (measured: 18 s instead of 21 s of CPU time for vit_b);
  - its weights in bfloat16 (not autocast: no casts per layer; inputs are cast on the way in,
    features back to float32 on the way out, so stock code such as ``SamPredictor`` works on
    the model as is): on CUDA, and on CPUs with native bf16 (AVX512-BF16 or AMX; measured on
    one: 10 s instead of 18 s of CPU time), else float32;
  - on CUDA ``torch.compile`` (default mode, fixed shapes), compiled once per process per
    batch size, lazily at the first encoder call (20-44 s for vit_b on an H200); a short batch
    is padded to the caller's ``pad_to`` so a job's last batch reuses the graph. A compile
    that fails is logged with its reason and the encoder runs eager from then on.
* ``predict`` is stateless: the embedding carries everything (features and the resized
  input size), so one model serves any number of images and threads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studio.errors import InvalidInput
from studio.segment.base import Embedding, Prediction, PreparedImage, Prompt, Segmenter, check_image

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

SAM_TYPES = ("vit_b", "vit_l", "vit_h")
RANDOM_SEED = 0
IMAGE_SIDE = 1024  # SAM's encoder input (longest side, padded square)
CUDA_BATCH = 8  # images per encoder call that pay off on a GPU (the embed job's default batch)
PRECISIONS = ("fp32", "bf16")

_MODELS: dict[tuple[str, str, str], Any] = {}
_MODELS_LOCK = threading.Lock()
_COMPILED: dict[tuple[str, str, str], Any] = {}  # model key -> compiled encoder, or a str: why it runs eager
_COMPILE_LOCKS: dict[tuple[str, str, str], threading.Lock] = {}


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


def use_bf16_encoder(model: Any) -> None:
    """The image encoder's weights in bfloat16, with its input cast to bfloat16 and its output
    back to float32 by hooks: callers (``SamPredictor`` included) feed and get float32."""
    import torch

    encoder = model.image_encoder.to(torch.bfloat16)
    encoder.register_forward_pre_hook(lambda module, args: (args[0].to(torch.bfloat16), *args[1:]))
    encoder.register_forward_hook(lambda module, args, output: output.float())


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); torch's private
    probes, so False where they are missing."""
    import torch

    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:
        return any(probe() for probe in probes if probe is not None)
    except Exception:  # noqa: BLE001 (a probe that fails means: do not count on it)
        return False


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the accelerator running out of memory (what halves a batch)."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(exc, oom) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


# ------------------------------------------------------------------------------ segmenter


def _build(model_type: str, checkpoint: Path | None, key: tuple[str, str, str], device: torch.device,
           sdpa: bool, bf16: bool = False) -> Any:
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
        if bf16:
            use_bf16_encoder(model)
        _MODELS[key] = model
        return model


class SamSegmenter(Segmenter):
    """SAM with the weights in ``checkpoint`` (None: random weights, seeded) on ``device``
    (None: ``studio.device.resolve_device()``). How the encoder runs (see the module
    docstring; None = the default for the device): ``sdpa`` attention via SDPA (default on);
    ``precision`` "bf16" or "fp32" encoder weights (bf16 on CUDA and on CPUs with native
    bf16); ``compile`` with torch.compile (on CUDA)."""

    kind = "sam"

    def __init__(self, model_type: str, checkpoint: Path | None, device: str | None = None,
                 sdpa: bool | None = None, precision: str | None = None, compile: bool | None = None) -> None:
        if model_type not in SAM_TYPES:
            raise InvalidInput(f"SAM model type {model_type!r}: expected one of {', '.join(SAM_TYPES)}")
        if precision is not None and precision not in PRECISIONS:
            raise InvalidInput(f"SAM encoder precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
        self.model_type = model_type
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        if self.checkpoint is not None and not self.checkpoint.is_file():
            raise InvalidInput(f"SAM checkpoint {self.checkpoint} does not exist")
        self.weights = f"random{RANDOM_SEED}" if self.checkpoint is None else checkpoint_sha256(self.checkpoint)[:12]
        self.id = f"sam-{model_type}-{self.weights}"
        self._device_setting = device
        self._sdpa = sdpa
        self._precision = precision
        self._compile = compile
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
    def sdpa(self) -> bool:
        return True if self._sdpa is None else self._sdpa

    @property
    def precision(self) -> str:
        """The encoder weights' dtype: "bf16" or "fp32"."""
        if self._precision is not None:
            return self._precision
        device = self.device.type
        return "bf16" if device == "cuda" or (device == "cpu" and native_bf16_cpu()) else "fp32"

    @property
    def compiled(self) -> bool:
        """Whether the encoder is (to be) run through torch.compile (not whether that worked:
        see :attr:`runtime`)."""
        return self.device.type == "cuda" if self._compile is None else self._compile

    @property
    def batch_size(self) -> int:  # type: ignore[override]
        return CUDA_BATCH if self.device.type == "cuda" else 1

    @property
    def _key(self) -> tuple[str, str, str]:
        sdpa = "+sdpa" if self.sdpa else ""
        bf16 = "+bf16" if self.precision == "bf16" else ""
        return self.model_type, self.weights, f"{self.device}{sdpa}{bf16}"

    @property
    def runtime(self) -> str:
        """How the encoder runs, for logs and benchmarks: "bf16 weights, SDPA, compiled"."""
        parts = [f"{self.precision} weights", "SDPA attention" if self.sdpa else "segment-anything attention"]
        state = _COMPILED.get(self._key)
        if self.compiled:
            parts.append(f"eager ({state})" if isinstance(state, str) else "torch.compile")
        else:
            parts.append("eager")
        return ", ".join(parts)

    @property
    def model(self) -> Any:
        """segment-anything's ``Sam`` module (built on first use, shared in the process)."""
        key = self._key
        model = _MODELS.get(key)
        return model if model is not None else _build(self.model_type, self.checkpoint, key, self.device, self.sdpa,
                                                      self.precision == "bf16")

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
        return self.embed_prepared([self.prepare(image)])[0]

    def prepare(self, image: np.ndarray) -> PreparedImage:
        """(H, W, 3) uint8 RGB -> its resize to longest side 1024 (as ``SamPredictor``), uint8.
        CPU only, no model needed: decode threads call it."""
        check_image(image)
        return PreparedImage(self.transform.apply_image(image), (int(image.shape[0]), int(image.shape[1])))

    def embed_prepared(self, prepared: Sequence[PreparedImage], pad_to: int | None = None) -> list[Embedding]:
        """One encoder call for all of ``prepared``: each resized image normalised and padded
        to 1024 x 1024 as ``SamPredictor`` does (uint8 copied to the device, normalised there),
        the batch padded with blank images to ``pad_to`` when the encoder is compiled (one
        graph per batch size). Out of memory propagates (``is_out_of_memory``): the caller
        halves the batch."""
        import torch

        n = len(prepared)
        if n == 0:
            return []
        model, device = self.model, self.device
        size = max(n, pad_to or n) if self.compiled else n
        with torch.inference_mode():
            pixels = torch.zeros((size, 3, IMAGE_SIDE, IMAGE_SIDE), dtype=torch.uint8,
                                 pin_memory=device.type == "cuda")
            for i, item in enumerate(prepared):
                h, w = item.pixels.shape[:2]
                pixels[i, :, :h, :w] = torch.from_numpy(np.ascontiguousarray(item.pixels)).permute(2, 0, 1)
            pixels = pixels.to(device, non_blocking=True)
            x = torch.zeros((size, 3, IMAGE_SIDE, IMAGE_SIDE), dtype=torch.float32, device=device)
            for i, item in enumerate(prepared):  # SAM normalises, then pads with zeros
                h, w = item.pixels.shape[:2]
                x[i, :, :h, :w] = (pixels[i, :, :h, :w] - model.pixel_mean) / model.pixel_std
            features = self._encode(x)[:n].float().cpu().numpy()
        return [Embedding(self.id, item.image_size,
                          {"features": features[i:i + 1].copy(),
                           "input_size": np.array(item.pixels.shape[:2], np.int32)})
                for i, item in enumerate(prepared)]

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """The image encoder on a normalised (B, 3, 1024, 1024) batch; compiled (lazily, once
        per process and batch size) when :attr:`compiled`, eager when compiling failed."""
        model = self.model
        if not self.compiled:
            return model.image_encoder(x)
        key = self._key
        with _MODELS_LOCK:
            lock = _COMPILE_LOCKS.setdefault(key, threading.Lock())
        with lock:  # dynamo compiles one call at a time; the GPU runs one batch at a time anyway
            state = _COMPILED.get(key)
            if isinstance(state, str):
                return model.image_encoder(x)
            if state is None:
                import torch

                configure_compile_cache()
                state = _COMPILED[key] = torch.compile(model.image_encoder, dynamic=False)
            started = time.perf_counter()
            try:
                out = state(x)
            except Exception as exc:  # noqa: BLE001 (whatever inductor raises: run eager, say why)
                if is_out_of_memory(exc):
                    raise
                reason = f"torch.compile failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}" \
                    if str(exc).strip() else f"torch.compile failed: {type(exc).__name__}"
                _COMPILED[key] = reason
                log.warning("SAM %s encoder runs eager: %s", self.model_type, reason)
                return model.image_encoder(x)
            seconds = time.perf_counter() - started
            if seconds > 2:  # a first call of this batch size: compiled now
                log.info("SAM %s encoder compiled for batch %d in %.1f s", self.model_type, x.shape[0], seconds)
            return out

    def warm_up(self, batch: int = 1) -> float:
        """Build the model and, when compiled, compile it for ``batch`` images (one blank batch
        through the encoder); seconds taken. Jobs call it so throughput excludes the compile."""
        import torch

        started = time.perf_counter()
        self.model  # noqa: B018 (built now, once per process)
        if self.compiled:
            with torch.inference_mode():
                self._encode(torch.zeros((batch, 3, IMAGE_SIDE, IMAGE_SIDE), device=self.device))
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
        return time.perf_counter() - started

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


def configure_compile_cache() -> None:
    """Inductor's caches under the data dir, where the studio's compiled runtime keeps them
    (studio.inference.compiled, when present), so a restart reuses compiled kernels."""
    try:
        from studio.inference.compiled import configure_compile_cache as configure
    except ImportError:
        return
    try:
        configure()
    except Exception as exc:  # noqa: BLE001 (a cache folder is an optimisation)
        log.warning("inductor cache not configured: %s", exc)


def clear_models() -> None:
    """Forget the built models and compiled encoders (tests; frees memory)."""
    with _MODELS_LOCK:
        _MODELS.clear()
        _COMPILED.clear()


__all__ = ["CUDA_BATCH", "PRECISIONS", "SAM_TYPES", "SamSegmenter", "checkpoint_sha256", "clear_models",
           "is_out_of_memory", "load_state_dict", "native_bf16_cpu", "sdpa_attention_forward", "use_bf16_encoder",
           "use_sdpa"]
