"""One way to run a model version anywhere: evaluation, pre-labelling, compare, live pages, benchmarks.

    predictor = load_predictor("unet_resnet34_shelves_v1.0.0_20260101", runtime="onnx")
    out = predictor.predict(image)            # image: (H, W, 3) uint8 RGB
    out.labels                                # semantic: (H, W) int64 class index at the input size

``load_predictor(ref, runtime, device)`` is cached per (version, weights file, runtime, device)
in this process, so pages and jobs can call it per frame / per image.

Outputs by task (shapes at the size of the image that was passed in):

=================  =====================================================================
semantic           ``SemanticOutput(labels (H, W) int64, probs (C, H, W) float32 | None)``;
                   value k = output channel k = the class whose ``index`` is k (0 = background)
instance           ``InstanceOutput(masks (N, H, W) bool, class_indices (N,) int64 (output
                   index: ``classes[k]``), scores (N,) float32 best first, boxes (N, 4) XYXY)``;
                   ``.to_semantic()`` paints them into an (H, W) class-index map
classification     ``ClassOutput(probs (C,) float32, top [(name, p)] best first)``
sequence           ``{head: (K,) float32 probabilities}`` for a (T, D) float32 keypoint array
                   (or a (T, 3, H, W) clip for clip models)
=================  =====================================================================

Preprocessing comes from the version's ``preprocessing.json`` (else the ``preprocessing`` of
its config, e.g. for imported ONNX files), completed by ``studio.nets.preprocessing``:
semantic images are resized so the longest side is ``image_size`` when the version was trained
at one (as training did), normalised with mean / std, padded bottom/right to the size multiple;
the logits are cropped back, resized (bilinear) to the input size, then arg-maxed. YOLO
images are letterboxed to ``image_size`` (default 640) as ultralytics does. Classifiers see
the image resized to fit ``image_size`` (default 224) and padded to a square, as in training.

Runtimes: "torch" (eval mode, ``inference_mode``), "onnx" (onnxruntime on the version's ``onnx``
file, see ``studio.exporting``; providers TensorRT -> CUDA -> CPU, those this onnxruntime has
and the device allows) and "onnx_int8" (the version's INT8 file, ``studio.quantize``). On CUDA
the torch runtime is *compiled* (``studio.inference.compiled``: bf16 weights, channels_last,
``torch.compile`` with CUDA graphs per shape bucket, eager fallback with a logged reason;
``STUDIO_COMPILE`` = auto | on | off); eager on CPU by default. ``Predictor.warm_up(sizes)``
compiles ahead and ``warmup_state()`` says how far it got; ``Predictor.provider`` names what
actually runs the network. All runtimes share the pre- and post-processing, so they differ only
by the network's numerical noise (and compiled image inputs are padded to multiples of 64).
"""

from studio.inference.network import (
    OUTPUT_NAMES,
    WEIGHT_ROLES_IN_ORDER,
    Network,
    as_version,
    class_dicts,
    load_network,
    model_kwargs,
    output_class_names,
    version_preprocessing,
    weights_path,
)
from studio.inference.compiled import (CompiledRunner, WarmupState, compile_cache_dir, configure_compile_cache,
                                       should_compile)
from studio.inference.outputs import ClassOutput, InstanceOutput, Output, SemanticOutput
from studio.inference.predictor import DEFAULT_IMAGE_SIZE, Predictor, clear_cache, load_predictor
from studio.inference.runtimes import RUNTIMES, Runtime, onnx_providers, onnx_session, provider_name, provider_order

__all__ = [
    "CompiledRunner", "WarmupState", "compile_cache_dir", "configure_compile_cache", "should_compile",
    "provider_name", "provider_order",
    "DEFAULT_IMAGE_SIZE", "OUTPUT_NAMES", "RUNTIMES", "WEIGHT_ROLES_IN_ORDER", "ClassOutput", "InstanceOutput",
    "Network", "Output", "Predictor", "Runtime", "SemanticOutput", "as_version", "class_dicts", "clear_cache",
    "load_network", "load_predictor", "model_kwargs", "onnx_providers", "onnx_session", "output_class_names",
    "version_preprocessing", "weights_path",
]
