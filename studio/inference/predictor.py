"""``Predictor``: pre-processing, a runtime and post-processing per task; ``load_predictor``
builds one per (version, weights file, runtime, device) and caches it in this process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from studio.errors import InvalidInput
from studio.inference.network import OUTPUT_NAMES, as_version, load_network, model_kwargs, output_class_names, \
    version_preprocessing, weights_path
from studio.inference.compiled import CompiledRunner, WarmupState, bucket_multiple, should_compile
from studio.inference.outputs import ClassOutput, InstanceOutput, Output, SemanticOutput
from studio.inference.runtimes import RUNTIMES, OnnxRunner, TorchRunner, onnx_session
from studio.tables import ModelVersion, Task

DEFAULT_IMAGE_SIZE = {"semantic": 512, "instance": 640, "classification": 224}


def _check_image(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidInput(f"image: expected (H, W, 3) uint8 RGB, got shape {getattr(image, 'shape', None)} "
                           f"dtype {getattr(image, 'dtype', type(image).__name__)}")
    return image


def _groups(shapes: Sequence[tuple[int, ...]]) -> list[list[int]]:
    """Indices grouped by equal shape (first-seen order), so equal-size images share a batch."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(tuple(shape), []).append(i)
    return list(groups.values())


class Predictor:
    """A model version ready to predict (see the module docstring for the outputs).

    version: the ModelVersion; task: its Task value; classes: the name of each output;
    runtime: "torch" | "onnx" | "onnx_int8"; device: the torch device (ONNX: where onnxruntime
    runs); prep: the preprocessing dict in use; provider: what actually runs the network
    ("torch compiled (...)", "torch eager (...)", "onnxruntime CUDA", ...).
    """

    def __init__(self, version: ModelVersion, runtime: str, device: Any, runner: Any, output_names: Sequence[str],
                 input_kind: str) -> None:
        self.version = version
        self.runtime = runtime
        self.device = device
        self.task = version.task
        self.classes = output_class_names(version)
        self.prep = version_preprocessing(version)
        self.output_names = tuple(output_names)
        self.input_kind = input_kind
        self._runner = runner
        self._lock = threading.Lock()
        self.label_values = tuple(int(c["index"]) for c in version.classes)  # instance output k -> class index
        self._warm = WarmupState("ready", compiled=False)  # runners that do not compile: the last warm-up

    # -- raw network --------------------------------------------------------------------------

    @property
    def size_multiple(self) -> int:
        """The network's own size multiple (its preprocessing's)."""
        return int(self.prep.get("size_multiple") or (32 if self.task == Task.instance.value else 1))

    @property
    def pad_multiple(self) -> int:
        """Image inputs are padded to multiples of this: the size multiple, and for a compiled
        runner also its shape bucket (64), so a few compiled graphs serve every image size."""
        bucket = int(getattr(self._runner, "size_multiple", 1) or 1)
        return bucket_multiple(self.size_multiple, bucket) if bucket > 1 else self.size_multiple

    @property
    def provider(self) -> str:
        """What runs the network (recorded on benchmark rows): "torch compiled (inductor, CUDA
        graphs, bfloat16, channels_last)", "torch eager (float32)", "onnxruntime CUDA", ..."""
        return str(getattr(self._runner, "provider", self.runtime))

    @property
    def compiled(self) -> bool:
        return isinstance(self._runner, CompiledRunner)

    def forward(self, x: Any) -> dict[str, np.ndarray]:
        """Raw outputs of the network for an already preprocessed batch ``x`` (B, 3, H, W)
        float32 (H, W multiples of ``size_multiple``); {output name: float32 array}."""
        out = self.run_network(x)
        self._runner.synchronize()
        return {name: o.detach().cpu().numpy() for name, o in zip(self.output_names, out)}

    def run_network(self, x: Any) -> tuple[Any, ...]:
        """The network on a preprocessed batch: a tuple of float32 torch tensors (torch runtime:
        on the predictor's device, not synchronised; onnx: on the CPU), ordered as ``output_names``."""
        with self._lock:
            return self._runner(x)

    @property
    def providers(self) -> list[str]:
        """onnxruntime's execution providers in use ([] for the torch runtime)."""
        session = getattr(self._runner, "session", None)
        return list(session.get_providers()) if session is not None else []

    def synchronize(self) -> None:
        self._runner.synchronize()

    def example_input(self, batch_size: int = 1, size: tuple[int, int] | None = None, seed: int = 0) -> np.ndarray:
        """A random preprocessed input batch: (B, 3, H, W) float32 for image models (H, W
        rounded up to the size multiple; default: the version's ``image_size``, else the task's
        usual size), (B, T, D) for
        keypoint models (T = ``size[0]`` or 32, D from the model's ``input_dim``)."""
        rng = np.random.default_rng(seed)
        if self.input_kind == "keypoints":
            steps = size[0] if size else 32
            dim = int(model_kwargs(self.version).get("input_dim", 156))
            return rng.standard_normal((batch_size, steps, dim), dtype=np.float32)
        h, w = size or (int(self.prep.get("image_size") or DEFAULT_IMAGE_SIZE.get(self.task, 224)),) * 2
        m = self.pad_multiple
        h, w = -(-int(h) // m) * m, -(-int(w) // m) * m
        if self.input_kind == "clip":
            return rng.standard_normal((batch_size, 8, 3, h, w), dtype=np.float32)
        if self.task == Task.instance.value:
            return rng.random((batch_size, 3, h, w), dtype=np.float32)
        return rng.standard_normal((batch_size, 3, h, w), dtype=np.float32)

    # -- warm-up --------------------------------------------------------------------------------

    def warm_up(self, sizes: Sequence[tuple[int, int]] | None = None, progress: Any = None) -> WarmupState:
        """Run one prediction per input size now, so that compiling (the compiled runtime: tens
        of seconds per shape bucket, seconds from the cache), TensorRT's engine build or the
        first CUDA allocations happen before the user waits on a frame. ``sizes``: (H, W) of the
        images ``predict`` will get (the camera's 480 x 640, ...; default the task's usual size;
        sequence models: (T, D) windows). ``progress(fraction, message)`` is called per size;
        ``warmup_state()`` can be read from another thread meanwhile. Returns the final state."""
        if sizes is None:
            if self.input_kind == "keypoints":
                sizes = [tuple(self.example_input(1).shape[1:])]  # type: ignore[list-item]
            else:
                side = int(self.prep.get("image_size") or DEFAULT_IMAGE_SIZE.get(self.task, 224))
                sizes = [(side, side)]
        sizes = [(int(h), int(w)) for h, w in sizes]
        started = time.perf_counter()
        for k, (h, w) in enumerate(sizes):
            message = f"warming up {self.version.name} at {h}x{w} ({self.provider})"
            if progress is not None:
                progress(k / len(sizes), message)
            if not self.compiled:
                self._warm = WarmupState("compiling", (), (h, w), k, len(sizes), time.perf_counter() - started,
                                         compiled=False)
            if self.input_kind == "keypoints":
                self.predict(np.zeros((h, w), np.float32))
            elif self.input_kind == "clip":
                self.run_network(self.example_input(1, (h, w)))
            else:
                self.predict(np.zeros((h, w, 3), np.uint8))
            self.synchronize()
        if not self.compiled:
            self._warm = WarmupState("ready", tuple(sizes), None, len(sizes), len(sizes), time.perf_counter() - started,
                                     compiled=False)
        state = self.warmup_state()
        if progress is not None:
            progress(1.0, state.line())
        return state

    def warmup_state(self) -> WarmupState:
        """Where compiling stands (compiled runtime), else where the last ``warm_up`` stands."""
        return self._runner.state() if self.compiled else self._warm

    # -- predictions --------------------------------------------------------------------------

    def predict(self, image: np.ndarray, **options: Any) -> Output:
        """One input -> its output (see the module docstring). Options: semantic
        ``with_probs``; instance ``conf`` (0.25), ``iou`` (0.7), ``max_det`` (300)."""
        return self.predict_batch([image], **options)[0]

    def predict_batch(self, images: Sequence[np.ndarray], **options: Any) -> list[Output]:
        """Several inputs; equal-size images run as one batch."""
        if not len(images):
            return []
        task = self.task
        if task == Task.semantic.value:
            return self._semantic(images, **options)
        if task == Task.instance.value:
            return self._instance(images, **options)
        if task == Task.classification.value:
            return self._classification(images, **options)
        if task == Task.sequence.value:
            return self._sequence(images, **options)
        raise InvalidInput(f"model {self.version.name}: unknown task {task!r}")

    # -- pre-processing (also what INT8 calibration feeds the network) ---------------------------

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """The network input for one image, exactly as ``predict`` builds it: (1, 3, H, W)
        float32 (semantic: resized, normalised, padded; instance: letterboxed; classification:
        fitted to the square). Sequence inputs come back as (1, T, D) float32."""
        if self.task == Task.semantic.value:
            return self._prepare_semantic(image)[0].numpy()
        if self.task == Task.instance.value:
            return self._prepare_instance(image).numpy()
        if self.task == Task.classification.value:
            return self._prepare_classification([image]).numpy()
        return np.asarray(image, np.float32)[None]

    def _prepare_semantic(self, image: np.ndarray) -> tuple[Any, tuple[int, int], tuple[int, int]]:
        """(x (1, 3, H', W') padded to ``pad_multiple``, pads, original (h, w))."""
        import cv2

        from studio.nets import image_to_tensor, pad_to_multiple

        size = self.prep.get("image_size")
        image = _check_image(image)
        h, w = image.shape[:2]
        work = image
        if size and max(h, w) != int(size):
            scale = int(size) / max(h, w)
            nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
            work = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        x, pads = pad_to_multiple(image_to_tensor(work, self.prep), max(self.pad_multiple, 1))
        return x, pads, (h, w)

    def _prepare_instance(self, image: np.ndarray) -> Any:
        """(1, 3, H', W') in [0, 1]: letterboxed as ultralytics does, to multiples of the stride
        (and of the shape bucket when compiled)."""
        from ultralytics.data.augment import LetterBox

        from studio.nets import image_to_tensor

        stride = bucket_multiple(max(self.size_multiple, 32), max(self.pad_multiple, 1))
        imgsz = int(self.prep.get("image_size") or DEFAULT_IMAGE_SIZE["instance"])
        side = -(-imgsz // stride) * stride
        boxed = LetterBox((side, side), auto=True, stride=stride)(image=_check_image(image))
        return image_to_tensor(np.ascontiguousarray(boxed), self.prep)

    def _prepare_classification(self, images: Sequence[np.ndarray]) -> Any:
        import torch

        from studio.training.data import fit_square, normalise

        size = int(self.prep.get("image_size") or DEFAULT_IMAGE_SIZE["classification"])
        mean = tuple(self.prep.get("mean") or (0.0, 0.0, 0.0))
        std = tuple(self.prep.get("std") or (1.0, 1.0, 1.0))
        return torch.stack([normalise(fit_square(_check_image(im), size)[0], mean, std) for im in images])

    def _semantic(self, images: Sequence[np.ndarray], with_probs: bool = False) -> list[Output]:
        import torch
        import torch.nn.functional as F

        from studio.nets import crop_padding

        prepared = [self._prepare_semantic(image) for image in images]
        results: list[Output | None] = [None] * len(images)
        for group in _groups([p[0].shape for p in prepared]):
            logits = self.run_network(torch.cat([prepared[i][0] for i in group]))[0]
            for row, i in enumerate(group):
                _, pads, (h, w) = prepared[i]
                one = crop_padding(logits[row: row + 1], pads)
                if one.shape[-2:] != (h, w):
                    one = F.interpolate(one, size=(h, w), mode="bilinear", align_corners=False)
                labels = one.argmax(1)[0].to(torch.int64).cpu().numpy()
                probs = one.softmax(1)[0].float().cpu().numpy() if with_probs else None
                results[i] = SemanticOutput(labels, probs)
        return results  # type: ignore[return-value]

    def _instance(self, images: Sequence[np.ndarray], conf: float = 0.25, iou: float = 0.7,
                  max_det: int = 300) -> list[Output]:
        import torch
        from ultralytics.utils import nms, ops

        if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
            raise InvalidInput(f"conf and iou: expected values in [0, 1], got conf={conf}, iou={iou}")
        prepared = [self._prepare_instance(image) for image in images]
        results: list[Output | None] = [None] * len(images)
        for group in _groups([x.shape for x in prepared]):
            x = torch.cat([prepared[i] for i in group])
            preds, protos = self.run_network(x)[:2]
            dets = nms.non_max_suppression(preds, conf, iou, max_det=max_det, nc=len(self.classes))
            for row, i in enumerate(group):
                results[i] = self._instances_of(dets[row], protos[row], x.shape[2:], images[i].shape, ops)
        return results  # type: ignore[return-value]

    def _instances_of(self, det: Any, proto: Any, input_hw: Any, image_shape: tuple[int, ...], ops: Any) -> InstanceOutput:
        """Boxes and native-resolution masks of one image's NMS output (as ultralytics' predictor)."""
        h, w = image_shape[:2]
        if det.shape[0] == 0:
            return InstanceOutput(np.zeros((0, h, w), bool), np.zeros(0, np.int64), np.zeros(0, np.float32),
                                  np.zeros((0, 4), np.float32), self.label_values)
        boxes = ops.scale_boxes(input_hw, det[:, :4].clone(), image_shape)
        masks = ops.process_mask_native(proto, det[:, 6:], boxes, (h, w)).bool()
        keep = masks.flatten(1).any(1)  # ultralytics drops objects whose mask is empty
        masks, boxes, det = masks[keep].cpu().numpy(), boxes[keep].float().cpu().numpy(), det[keep].float().cpu()
        return InstanceOutput(masks.astype(bool), det[:, 5].numpy().astype(np.int64), det[:, 4].numpy().astype(np.float32),
                              boxes.astype(np.float32), self.label_values)

    def _classification(self, images: Sequence[np.ndarray]) -> list[Output]:
        x = self._prepare_classification(images)
        probs = self.run_network(x)[0].softmax(1).cpu().numpy().astype(np.float32)
        out = []
        for p in probs:
            order = np.argsort(-p, kind="stable")[:5]
            out.append(ClassOutput(p, [(self.classes[k], float(p[k])) for k in order]))
        return out

    def _sequence(self, arrays: Sequence[np.ndarray]) -> list[Output]:
        import torch

        out = []
        for array in arrays:
            a = np.asarray(array, np.float32)
            expected = 2 if self.input_kind == "keypoints" else 4
            if a.ndim != expected:
                raise InvalidInput(f"sequence input: expected {'(T, D)' if expected == 2 else '(T, 3, H, W)'} "
                                   f"float32, got shape {a.shape}")
            heads = self.run_network(torch.from_numpy(a[None]))
            out.append({name: h.softmax(-1)[0].cpu().numpy() for name, h in zip(self.output_names, heads)})
        return out


CACHE_SIZE = 8  # predictors kept per process, least recently used dropped first
_CACHE: OrderedDict[tuple[Any, ...], Predictor] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def load_predictor(ref: str | int | ModelVersion, runtime: str = "torch", device: str | None = None,
                   compile: bool | str | None = None) -> Predictor:
    """A ``Predictor`` of the version ``ref`` (id, name or row) on ``runtime`` ("torch" | "onnx"
    | "onnx_int8") and ``device`` (None: the configured STUDIO_DEVICE, "auto" = CUDA when present).
    ``compile`` (torch runtime): True / False, or "auto" | "on" | "off"; None = STUDIO_COMPILE
    (default "auto": the compiled runtime on CUDA, eager elsewhere; ``studio.inference.compiled``).

    Cached per (version, weights file and its mtime, runtime, device, compiled) in this process
    (the ``CACHE_SIZE`` most recently used).
    NotFound when the version lacks the file the runtime needs; InvalidInput for an ONNX file
    that onnxruntime cannot load (naming the file and the reason) or an unknown runtime.
    """
    from studio.device import resolve_device
    from studio.registry import models_root

    if runtime not in RUNTIMES:
        raise InvalidInput(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    version = as_version(ref)
    from studio.nets.classical import is_classical

    if is_classical(version.architecture):  # HOG/LBP features + SVM / forest arrays: no torch network
        from studio.inference.classical import classical_predictor

        return classical_predictor(version, runtime, device)
    torch_device = resolve_device(device)
    path = weights_path(version, runtime)
    stat = path.stat() if path.is_file() else None
    compiled = runtime == "torch" and should_compile(torch_device, compile)
    key = (str(models_root().resolve()), version.id, version.name, runtime, str(torch_device), str(path),
           stat.st_mtime_ns if stat else None, stat.st_size if stat else None, compiled)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
        if runtime in ("onnx", "onnx_int8"):
            predictor = predictor_for_file(version, path, device)
            predictor.runtime = runtime
        else:
            network = load_network(version)
            runner = CompiledRunner(network, torch_device, task=version.task) if compiled \
                else TorchRunner(network, torch_device)
            predictor = Predictor(version, runtime, torch_device, runner, network.output_names, network.input_kind)
        _CACHE[key] = predictor
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        return predictor


def clear_cache() -> None:
    """Forget every cached predictor (frees their models)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def predictor_for_file(ref: str | int | ModelVersion, path: Any, device: str | None = "cpu") -> Predictor:
    """An uncached onnxruntime ``Predictor`` of the version ``ref`` on the ONNX file ``path``,
    which need not be recorded on the version (an INT8 candidate being checked, a fp32 file
    exported for it): same pre- and post-processing as ``load_predictor(ref, "onnx")``."""
    from studio.device import resolve_device

    version = as_version(ref)
    torch_device = resolve_device(device)
    if version.task == Task.sequence.value:
        names: tuple[str, ...] = ("gloss", "category")
        kind = "clip" if version.architecture == "frame_cnn_gru" else "keypoints"
    else:
        names, kind = OUTPUT_NAMES.get(version.task, ("logits",)), "image"
    runner = OnnxRunner(onnx_session(path, torch_device), names)
    return Predictor(version, "onnx", torch_device, runner, tuple(runner.outputs), kind)
