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

Runtimes: "torch" (eval mode, ``inference_mode``; on CUDA channels_last + bf16/fp16 autocast)
and "onnx" (onnxruntime with CUDAExecutionProvider when onnxruntime has it and
torch sees a GPU, else CPUExecutionProvider; the file is the version's ``onnx`` file, see
``studio.exporting``). Both share all pre- and post-processing, so they differ only by the
network's numerical noise.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from studio.errors import InvalidInput, NotFound
from studio.tables import ModelVersion, Task

Runtime = Literal["torch", "onnx"]
RUNTIMES: tuple[str, ...] = ("torch", "onnx")
WEIGHT_ROLES_IN_ORDER = ("best", "weights", "last")  # the checkpoint a torch predictor loads
OUTPUT_NAMES = {"semantic": ("logits",), "classification": ("logits",), "instance": ("preds", "protos")}
DEFAULT_IMAGE_SIZE = {"semantic": 512, "instance": 640, "classification": 224}


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class SemanticOutput:
    """labels: (H, W) int64 class index per pixel (= output channel; 0 = background);
    probs: (C, H, W) float32 softmax probabilities when asked for (``with_probs=True``)."""

    labels: np.ndarray
    probs: np.ndarray | None = None


@dataclass(frozen=True)
class InstanceOutput:
    """N objects at the input image's size, best score first.

    masks: (N, H, W) bool; class_indices: (N,) int64 output index k (the model's ``classes[k]``);
    scores: (N,) float32; boxes: (N, 4) float32 XYXY pixels; label_values: the class-index value
    of output k (``classes[k]["index"]``) that ``to_semantic`` paints (default k + 1).
    """

    masks: np.ndarray
    class_indices: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    label_values: tuple[int, ...] = ()

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def to_semantic(self, height: int | None = None, width: int | None = None, min_score: float = 0.0) -> np.ndarray:
        """(H, W) int64 class-index map: 0 = background, each object painted with its class's
        value, lower scores first so the best object wins where masks overlap. (H, W) other
        than the masks' size resizes nearest-neighbour."""
        h, w = self.masks.shape[1:] if self.masks.ndim == 3 else (height, width)
        if h is None or w is None:
            raise InvalidInput("to_semantic: expected (height, width) for an output without masks")
        out = np.zeros((int(h), int(w)), np.int64)
        for k in np.argsort(self.scores, kind="stable"):
            if self.scores[k] < min_score:
                continue
            index = int(self.class_indices[k])
            out[self.masks[k]] = self.label_values[index] if index < len(self.label_values) else index + 1
        if height is not None and width is not None and (height, width) != (h, w):
            from studio.evaluation.metrics import resize_prediction

            out = resize_prediction(out, (int(height), int(width)))
        return out


@dataclass(frozen=True)
class ClassOutput:
    """probs: (C,) float32 softmax over the model's classes; top: up to 5 (name, p), best first."""

    probs: np.ndarray
    top: list[tuple[str, float]] = field(default_factory=list)

    @property
    def index(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def name(self) -> str:
        return self.top[0][0] if self.top else str(self.index)


Output = SemanticOutput | InstanceOutput | ClassOutput | dict[str, np.ndarray]


# --------------------------------------------------------------------------- the network


@dataclass
class Network:
    """A version's nn.Module wrapped so ``forward(x)`` returns a tuple of tensors named
    ``output_names`` (what ONNX / TorchScript export and the torch runtime all run).

    input_kind: "image" (B, 3, H, W) | "keypoints" (B, T, D) | "clip" (B, T, 3, H, W)
    """

    module: Any  # torch.nn.Module
    output_names: tuple[str, ...]
    input_kind: str


def as_version(ref: str | int | ModelVersion) -> ModelVersion:
    """A ModelVersion from an id, a name or the row itself."""
    if isinstance(ref, ModelVersion):
        return ref
    from studio.registry import get_model

    return get_model(ref)


def class_dicts(version: ModelVersion) -> list[dict[str, Any]]:
    return [dict(c) for c in version.classes]


def output_class_names(version: ModelVersion) -> list[str]:
    """Name of each output (semantic: channel k; others: ``classes[k]``)."""
    from studio.registry import output_names

    return output_names(version.task, version.classes)


def model_kwargs(version: ModelVersion) -> dict[str, Any]:
    kwargs = version.config.get("model_kwargs") if isinstance(version.config, dict) else None
    return dict(kwargs) if isinstance(kwargs, dict) else {}


def version_preprocessing(version: ModelVersion) -> dict[str, Any]:
    """The version's preprocessing: ``preprocessing.json`` (else ``config["preprocessing"]``)
    over the defaults of ``studio.nets.preprocessing(architecture, backbone)``."""
    from studio.nets import preprocessing
    from studio.registry import model_dir

    stored: dict[str, Any] = {}
    path = model_dir(version) / "preprocessing.json"
    if path.is_file():
        try:
            stored = json.loads(path.read_text()) or {}
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}: not valid JSON ({exc}); expected the preprocessing dict") from None
    if not stored and isinstance(version.config.get("preprocessing"), dict):
        stored = dict(version.config["preprocessing"])
    try:
        base = preprocessing(version.architecture, version.backbone or None, **model_kwargs(version))
    except InvalidInput:
        base = {}
    return {**base, **stored}


def _torch_module(version: ModelVersion) -> Any:
    """The version's nn.Module with its checkpoint's weights (CPU, eval mode, float32)."""
    from studio.nets import create_model
    from studio.registry import load_checkpoint, num_outputs

    kwargs = model_kwargs(version)
    if version.architecture == "yolov8-seg" and "names" not in kwargs:
        kwargs["names"] = tuple(c["name"] for c in version.classes)
    model = create_model(version.architecture, num_classes=num_outputs(version.task, version.classes),
                         backbone=version.backbone or None, **kwargs)
    path = _weights_path(version, "torch")
    state = load_checkpoint(path)["model"]
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise InvalidInput(f"{path.name} does not fit {version.architecture} {version.backbone}: missing "
                           f"{result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]}")
    return model.eval()


def load_network(ref: str | int | ModelVersion) -> Network:
    """The version's network (CPU, float32, eval) as a ``Network`` with tuple outputs."""
    import torch
    from torch import nn

    version = as_version(ref)
    module = _torch_module(version)
    task = version.task
    if task == Task.instance.value:
        head = module.model[-1]

        class _YoloOutputs(nn.Module):
            """(B, 3, H, W) in [0, 1] -> (preds (B, 4 + C + 32, A), protos (B, 32, H/4, W/4))."""

            def __init__(self, net: nn.Module) -> None:
                super().__init__()
                self.net = net

            def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                first = self.net(x)[0]
                return first[0], first[1]

        head.dynamic = True  # anchors follow the input size (needed for dynamic ONNX axes)
        return Network(_YoloOutputs(module).eval(), OUTPUT_NAMES["instance"], "image")
    if task == Task.sequence.value:
        heads = ("gloss", "category") if getattr(getattr(module, "heads", None), "category", None) is not None \
            else ("gloss",)

        class _SequenceOutputs(nn.Module):
            def __init__(self, net: nn.Module) -> None:
                super().__init__()
                self.net = net

            def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
                out = self.net(x)
                return tuple(out[h] for h in heads)

        kind = "clip" if version.architecture == "frame_cnn_gru" else "keypoints"
        return Network(_SequenceOutputs(module).eval(), heads, kind)

    class _Single(nn.Module):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
            return (self.net(x),)

    return Network(_Single(module).eval(), OUTPUT_NAMES.get(task, ("logits",)), "image")


# --------------------------------------------------------------------------- runtimes


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


class _TorchRunner:
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


class _OnnxRunner:
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


# --------------------------------------------------------------------------- the predictor


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
    runtime: "torch" | "onnx"; device: the torch device (ONNX: where onnxruntime runs);
    prep: the preprocessing dict in use.
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

    # -- raw network --------------------------------------------------------------------------

    @property
    def size_multiple(self) -> int:
        return int(self.prep.get("size_multiple") or (32 if self.task == Task.instance.value else 1))

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
        rounded up to the size multiple; default: the task's usual size), (B, T, D) for
        keypoint models (T = ``size[0]`` or 32, D from the model's ``input_dim``)."""
        rng = np.random.default_rng(seed)
        if self.input_kind == "keypoints":
            steps = size[0] if size else 32
            dim = int(model_kwargs(self.version).get("input_dim", 156))
            return rng.standard_normal((batch_size, steps, dim), dtype=np.float32)
        h, w = size or (DEFAULT_IMAGE_SIZE.get(self.task, 224),) * 2
        m = self.size_multiple
        h, w = -(-int(h) // m) * m, -(-int(w) // m) * m
        if self.input_kind == "clip":
            return rng.standard_normal((batch_size, 8, 3, h, w), dtype=np.float32)
        if self.task == Task.instance.value:
            return rng.random((batch_size, 3, h, w), dtype=np.float32)
        return rng.standard_normal((batch_size, 3, h, w), dtype=np.float32)

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

    def _semantic(self, images: Sequence[np.ndarray], with_probs: bool = False) -> list[Output]:
        import cv2
        import torch
        import torch.nn.functional as F

        from studio.nets import crop_padding, image_to_tensor, pad_to_multiple

        size = self.prep.get("image_size")
        prepared = []
        for image in images:
            image = _check_image(image)
            h, w = image.shape[:2]
            work = image
            if size and max(h, w) != int(size):
                scale = int(size) / max(h, w)
                nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
                work = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            x, pads = pad_to_multiple(image_to_tensor(work, self.prep), max(self.size_multiple, 1))
            prepared.append((x, pads, (h, w)))
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
        from ultralytics.data.augment import LetterBox
        from ultralytics.utils import nms, ops

        from studio.nets import image_to_tensor

        if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
            raise InvalidInput(f"conf and iou: expected values in [0, 1], got conf={conf}, iou={iou}")
        stride = max(self.size_multiple, 32)
        imgsz = int(self.prep.get("image_size") or DEFAULT_IMAGE_SIZE["instance"])
        side = -(-imgsz // stride) * stride
        prepared = []
        for image in images:
            image = _check_image(image)
            boxed = LetterBox((side, side), auto=True, stride=stride)(image=image)
            prepared.append(image_to_tensor(np.ascontiguousarray(boxed), self.prep))
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
        import torch

        from studio.training.data import fit_square, normalise

        size = int(self.prep.get("image_size") or DEFAULT_IMAGE_SIZE["classification"])
        mean = tuple(self.prep.get("mean") or (0.0, 0.0, 0.0))
        std = tuple(self.prep.get("std") or (1.0, 1.0, 1.0))
        x = torch.stack([normalise(fit_square(_check_image(im), size)[0], mean, std) for im in images])
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


# --------------------------------------------------------------------------- loading and cache


CACHE_SIZE = 8  # predictors kept per process, least recently used dropped first
_CACHE: OrderedDict[tuple[Any, ...], Predictor] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _weights_path(version: ModelVersion, runtime: str) -> Path:
    from studio.registry import model_file

    if runtime == "onnx":
        if "onnx" not in version.files:
            raise NotFound(f"model {version.name} has no ONNX file; export one first: studio export onnx {version.name}")
        return model_file(version, "onnx")
    role = next((r for r in WEIGHT_ROLES_IN_ORDER if r in version.files), None)
    if role is None:
        hint = "; it has an ONNX file: use runtime 'onnx'" if "onnx" in version.files else ""
        raise NotFound(f"model {version.name} has no PyTorch checkpoint (expected one of "
                       f"{', '.join(WEIGHT_ROLES_IN_ORDER)}){hint}")
    return model_file(version, role)


def load_predictor(ref: str | int | ModelVersion, runtime: str = "torch", device: str | None = None) -> Predictor:
    """A ``Predictor`` of the version ``ref`` (id, name or row) on ``runtime`` ("torch" | "onnx")
    and ``device`` (None: the configured STUDIO_DEVICE, "auto" = CUDA when present).

    Cached per (version, weights file and its mtime, runtime, device) in this process (the
    ``CACHE_SIZE`` most recently used).
    NotFound when the version lacks the file the runtime needs; InvalidInput for an ONNX file
    that onnxruntime cannot load (naming the file and the reason) or an unknown runtime.
    """
    from studio.device import resolve_device
    from studio.registry import models_root

    if runtime not in RUNTIMES:
        raise InvalidInput(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    version = as_version(ref)
    torch_device = resolve_device(device)
    path = _weights_path(version, runtime)
    stat = path.stat() if path.is_file() else None
    key = (str(models_root().resolve()), version.id, version.name, runtime, str(torch_device), str(path),
           stat.st_mtime_ns if stat else None, stat.st_size if stat else None)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
        if runtime == "onnx":
            if version.task == Task.sequence.value:
                names: tuple[str, ...] = ("gloss", "category")
                kind = "clip" if version.architecture == "frame_cnn_gru" else "keypoints"
            else:
                names, kind = OUTPUT_NAMES.get(version.task, ("logits",)), "image"
            runner: Any = _OnnxRunner(onnx_session(path, torch_device), names)
            names = tuple(runner.outputs)
        else:
            network = load_network(version)
            runner, names, kind = _TorchRunner(network, torch_device), network.output_names, network.input_kind
        predictor = Predictor(version, runtime, torch_device, runner, names, kind)
        _CACHE[key] = predictor
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        return predictor


def clear_cache() -> None:
    """Forget every cached predictor (frees their models)."""
    with _CACHE_LOCK:
        _CACHE.clear()
