"""SAM's prompt encoder + mask decoder as one ONNX file, so the browser decodes clicks itself.

The export uses segment-anything's own ``SamOnnxModel`` (its point / mask embedding written
for tracing), subclassed as :class:`LowResSamOnnxModel` so that it returns the low-res
outputs only and needs no ``orig_im_size``:

    inputs   image_embeddings (1, 256, 64, 64) f32   the encoder's features (the embedding)
             point_coords     (1, N, 2) f32          XY in the 1024 frame (ResizeLongestSide.apply_coords)
             point_labels     (1, N) f32             1 pos, 0 neg, 2 / 3 box corners, -1 padding point
             mask_input       (1, 1, 256, 256) f32   previous low-res logits (zeros when none)
             has_mask_input   (1,) f32               1 with a mask input, else 0
    outputs  scores           (1, 4) f32             predicted IoU of each mask
             low_res_masks    (1, 4, 256, 256) f32   logits; 0 = the single-mask output,
                                                     1..3 = the 3 multimask candidates

N is dynamic. :func:`decoder_inputs` builds the inputs from a :class:`Prompt` exactly as
``SamSegmenter.predict`` does (a padding point when there is no box) and :func:`postprocess`
is SAM's ``postprocess_masks`` (bilinear 256 -> 1024, crop to the input size, bilinear to
H x W, ``> 0``): the browser mirrors both (frontend/canvas).

One file per segmenter id at ``<embeddings_dir>/decoders/<segmenter id>.onnx``, exported
on first request (temp file + rename; one export at a time per id; a cached file is checked
once per process and exported again when it does not load). It sits beside the
embedding cache but is not an embedding: the cache's info / clear / eviction leave the
``decoders`` folder alone (studio.segment.cache.DECODERS_DIR), and
:func:`clear_decoders` removes the files on purpose.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studio.errors import InvalidInput
from studio.segment.base import LOW_RES, Embedding, Prediction, Prompt
from studio.segment.cache import DECODERS_DIR

if TYPE_CHECKING:
    from studio.segment.sam import SamSegmenter

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAMES = ("image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input")
OUTPUT_NAMES = ("scores", "low_res_masks")
IMAGE_SIDE = 1024
_LOCKS: dict[str, threading.Lock] = {}
_CHECKED: dict[Path, tuple[int, int]] = {}  # files found loadable in this process, by (size, mtime)
_LOCKS_GUARD = threading.Lock()


def decoders_dir() -> Path:
    """``<embeddings_dir>/decoders`` of the current settings."""
    from studio.config import get_settings

    return get_settings().embeddings_dir / DECODERS_DIR


def decoder_path(segmenter_id: str, folder: Path | None = None) -> Path:
    """Where the decoder of ``segmenter_id`` lives (it may not exist yet)."""
    if not segmenter_id.startswith("sam-") or "/" in segmenter_id or ".." in segmenter_id:
        raise InvalidInput(f"segmenter {segmenter_id!r}: only SAM segmenters (ids 'sam-...') have a decoder file")
    return (folder or decoders_dir()) / f"{segmenter_id}.onnx"


def low_res_onnx_model(sam_model: Any) -> Any:
    """:class:`LowResSamOnnxModel` around segment-anything's ``Sam`` module (torch deferred:
    importing this module must stay cheap)."""
    return _model_class()(sam_model)


_MODEL_CLASS: Any = None


def _model_class() -> Any:
    global _MODEL_CLASS
    if _MODEL_CLASS is None:
        import torch
        from segment_anything.utils.onnx import SamOnnxModel

        class LowResSamOnnxModel(SamOnnxModel):
            """``SamOnnxModel`` returning ``(scores (1, 4), low_res_masks (1, 4, 256, 256))``:
            no mask selection, no upscaling (the caller postprocesses the candidate it shows)."""

            def __init__(self, model: Any) -> None:
                super().__init__(model, return_single_mask=False)

            @torch.no_grad()
            def forward(self, image_embeddings: torch.Tensor, point_coords: torch.Tensor,  # type: ignore[override]
                        point_labels: torch.Tensor, mask_input: torch.Tensor,
                        has_mask_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                sparse = self._embed_points(point_coords, point_labels)
                dense = self._embed_masks(mask_input, has_mask_input)
                masks, scores = self.model.mask_decoder.predict_masks(
                    image_embeddings=image_embeddings, image_pe=self.model.prompt_encoder.get_dense_pe(),
                    sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense)
                return scores, masks

        _MODEL_CLASS = LowResSamOnnxModel
    return _MODEL_CLASS


def export_decoder(segmenter: SamSegmenter, path: Path) -> Path:
    """Export ``segmenter``'s decoder to ``path`` (temp file + rename); the path."""
    import torch

    model = low_res_onnx_model(segmenter.model if segmenter.device.type == "cpu" else _cpu_copy(segmenter))
    model.eval()
    prompt_encoder = segmenter.model.prompt_encoder
    h, w = prompt_encoder.image_embedding_size
    dummy = (
        torch.randn(1, prompt_encoder.embed_dim, h, w, dtype=torch.float),
        torch.randint(0, IMAGE_SIDE, (1, 5, 2), dtype=torch.float),
        torch.randint(0, 4, (1, 5), dtype=torch.float),
        torch.randn(1, 1, 4 * h, 4 * w, dtype=torch.float),
        torch.tensor([1], dtype=torch.float),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.onnx.tmp")
    try:
        # The TorchScript exporter (dynamo=False): one self-contained file for the browser, and no
        # onnxscript dependency; its deprecation and tracer warnings are expected here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(model, dummy, str(tmp), input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                              dynamic_axes={"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}},
                              opset_version=OPSET, do_constant_folding=True, dynamo=False)
        _check_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _cpu_copy(segmenter: SamSegmenter) -> Any:
    """A CPU copy of a SAM model living on another device (the export traces on the CPU)."""
    import copy

    return copy.deepcopy(segmenter.model).to("cpu")


def _check_file(path: Path) -> None:
    """The file is a loadable ONNX model with the documented inputs and outputs."""
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    names = tuple(i.name for i in model.graph.input), tuple(o.name for o in model.graph.output)
    if names != (INPUT_NAMES, OUTPUT_NAMES):
        raise RuntimeError(f"exported decoder has inputs / outputs {names}, expected {(INPUT_NAMES, OUTPUT_NAMES)}")


def ensure_decoder(segmenter: Any, folder: Path | None = None) -> Path:
    """The decoder file of ``segmenter``: exported now when missing (once per id at a time,
    a few seconds), else the cached file, checked once per process (a truncated or foreign
    file is exported again). InvalidInput for a segmenter that is not SAM."""
    if getattr(segmenter, "kind", None) != "sam":
        raise InvalidInput(f"segmenter {getattr(segmenter, 'name', segmenter)!r} is not SAM: it has no browser "
                           "decoder (clicks go through the server)")
    path = decoder_path(segmenter.id, folder)
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(segmenter.id, threading.Lock())
    with lock:
        stamp = _stamp(path)
        if stamp is not None and _CHECKED.get(path) == stamp:
            return path
        if stamp is not None:
            try:
                _check_file(path)
            except Exception as exc:  # noqa: BLE001 (any unreadable file: export it again)
                log.warning("decoder file %s is unusable (%s); exporting it again", path, exc)
                stamp = None
        if stamp is None:
            log.info("exporting the ONNX decoder of %s to %s", segmenter.id, path)
            export_decoder(segmenter, path)
        _CHECKED[path] = _stamp(path)  # type: ignore[assignment]
    return path


def _stamp(path: Path) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, None when it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def clear_decoders(folder: Path | None = None) -> int:
    """Delete every exported decoder file; how many went (they are re-exported on demand)."""
    folder = folder or decoders_dir()
    removed = 0
    for path in folder.glob("*.onnx") if folder.is_dir() else ():
        path.unlink(missing_ok=True)
        removed += 1
    return removed


# ----------------------------------------------------------------- inputs and outputs


def preprocess_shape(height: int, width: int, side: int = IMAGE_SIDE) -> tuple[int, int]:
    """(h, w) of an HxW image resized to longest side ``side`` (ResizeLongestSide's rounding)."""
    scale = side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def decoder_inputs(embedding: Embedding, prompt: Prompt) -> dict[str, np.ndarray]:
    """The decoder's inputs for ``prompt`` on ``embedding`` (see the module docstring):
    points then the box corners (labels 2, 3), or a padding point (label -1) without a box,
    as segment-anything's prompt encoder does."""
    h, w = embedding.image_size
    nh, nw = preprocess_shape(h, w)
    scale = np.array([nw / w, nh / h], np.float32)
    coords = [prompt.points.astype(np.float32).reshape(-1, 2) * scale]
    labels = [prompt.labels.astype(np.float32).reshape(-1)]
    if prompt.box is not None:
        coords.append(prompt.box.astype(np.float32).reshape(2, 2) * scale)
        labels.append(np.array([2, 3], np.float32))
    else:
        coords.append(np.zeros((1, 2), np.float32))
        labels.append(np.array([-1], np.float32))
    mask_input = prompt.mask_input
    return {
        "image_embeddings": np.asarray(embedding.arrays["features"], np.float32),
        "point_coords": np.concatenate(coords)[None].astype(np.float32),
        "point_labels": np.concatenate(labels)[None].astype(np.float32),
        "mask_input": (np.zeros((1, 1, LOW_RES, LOW_RES), np.float32) if mask_input is None
                       else np.asarray(mask_input, np.float32).reshape(1, 1, LOW_RES, LOW_RES)),
        "has_mask_input": np.array([0.0 if mask_input is None else 1.0], np.float32),
    }


def postprocess(low_res: np.ndarray, input_size: tuple[int, int], image_size: tuple[int, int]) -> np.ndarray:
    """(K, 256, 256) logits -> (K, H, W) bool masks: SAM's ``postprocess_masks`` then ``> 0``."""
    import torch
    import torch.nn.functional as F

    masks = torch.as_tensor(np.asarray(low_res, np.float32))[None]
    masks = F.interpolate(masks, (IMAGE_SIDE, IMAGE_SIDE), mode="bilinear", align_corners=False)
    masks = masks[..., : input_size[0], : input_size[1]]
    masks = F.interpolate(masks, image_size, mode="bilinear", align_corners=False)
    return (masks[0] > 0).numpy()


def run_decoder(session: Any, embedding: Embedding, prompt: Prompt, multimask: bool = True) -> Prediction:
    """A Prediction from an onnxruntime ``InferenceSession`` of the decoder file: candidates
    1..3 with ``multimask``, else mask 0 (what ``SamSegmenter.predict`` returns)."""
    scores, low_res = session.run(list(OUTPUT_NAMES), decoder_inputs(embedding, prompt))
    pick = slice(1, None) if multimask else slice(0, 1)
    logits, scores = low_res[0, pick].astype(np.float32), scores[0, pick].astype(np.float32)
    input_size = (int(embedding.arrays["input_size"][0]), int(embedding.arrays["input_size"][1]))
    return Prediction(postprocess(logits, input_size, embedding.image_size), scores, logits)
