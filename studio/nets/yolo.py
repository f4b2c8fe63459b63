"""Instance segmentation: "yolov8-seg" (ultralytics), sizes n / s / m, built from its yaml offline.

``create_model("yolov8-seg", num_classes=C, backbone="n")`` returns ultralytics'
``SegmentationModel`` itself: a plain ``nn.Module`` whose ``state_dict`` is ultralytics' own
(so a studio checkpoint ``{"model": state_dict}`` reloads with ``weights_only=True`` into
``create_model`` with the same num_classes / backbone). Its raw ``forward``:

    x: (B, 3, H, W) float32 RGB in [0, 1] (no mean/std), H and W multiples of 32
    train mode: dict of head outputs for ultralytics' loss
    eval mode:  ([preds (B, 4 + C + 32, A), protos (B, 32, H/4, W/4)], dict)   (A = anchors)

Callers that want objects use ``predict_instances`` (one format for evaluation and the live
page); a trainer uses ultralytics' own trainer through ``as_yolo(model)``.

Checkpoints: only the state_dict route above (``weights_only=True``). Ultralytics' own
checkpoints pickle the model object; the studio reads those only through ultralytics' resume
of a run it started itself (``studio.training.yolo``), never from a user's file.

Nothing here downloads: the yaml ships inside ultralytics, ``YOLO_OFFLINE=1`` is set by
``import studio``, and pretrained weights come only from ``<models_dir>/pretrained/yolov8<size>-seg.pt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from studio.errors import InvalidInput
from studio.nets import pretrained as weights_files
from studio.nets.registry import image_input, register_architecture

if TYPE_CHECKING:
    from ultralytics import YOLO

SIZES: tuple[str, ...] = ("n", "s", "m")
OUTPUT = ("raw ultralytics head outputs (eval: [preds (B, 4 + num_classes + 32, A), protos (B, 32, H/4, W/4)]); "
          "use predict_instances for a list of Instance per image")


@dataclass(frozen=True)
class Instance:
    """One predicted object at the size of the image it was predicted on.

    class_index: the model's output index, 0 .. num_classes-1 (map to dataset classes via classes.json)
    score: confidence in [0, 1]
    mask: (H, W) bool
    box: (4,) float32 XYXY in image pixels (x to the right, y down)
    """

    class_index: int
    score: float
    mask: np.ndarray
    box: np.ndarray

    def __post_init__(self) -> None:
        if self.mask.ndim != 2 or self.mask.dtype != np.bool_ or self.box.shape != (4,):
            raise ValueError(f"Instance: expected mask (H, W) bool and box (4,), got mask {self.mask.shape} "
                             f"{self.mask.dtype}, box {self.box.shape}")


def _yaml_name(size: str) -> str:
    return f"yolov8{size}-seg.yaml"


def _attach_metadata(model: nn.Module, size: str, names: dict[int, str]) -> None:
    """What ultralytics' own YOLO(yaml) sets on its model, so its trainer, predictor and save work."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    model.names = names
    model.task = "segment"
    model.args = {**DEFAULT_CFG_DICT, "model": _yaml_name(size), "task": "segment"}


def _load_pretrained(model: nn.Module, size: str, pretrained: bool | Path) -> None:
    """Transfer the weights of a local file whose names and shapes match (the class head differs when
    num_classes != 80). A plain state_dict is read with weights_only=True; an ultralytics checkpoint
    (a pickled model) goes through ultralytics' loader: trusted-only, see the module docstring."""
    stem = f"yolov8{size}-seg"
    path = weights_files.resolve(pretrained, f"yolov8{size}-seg (ultralytics' official {stem}.pt)", stem, ".pt")
    if path is None:
        return
    try:
        state = weights_files.load_state_dict(path)
    except InvalidInput:
        from ultralytics.nn.tasks import load_checkpoint

        try:
            loaded, _ = load_checkpoint(str(path))
        except Exception as exc:  # noqa: BLE001 - any reader failure is the same user error
            raise InvalidInput(f"{path}: expected an ultralytics checkpoint or a state_dict ({exc})") from None
        state = loaded.float().state_dict()
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if len(matched) < len(own) // 2:
        raise InvalidInput(f"{path} does not fit yolov8{size}-seg: only {len(matched)} of {len(own)} tensors match "
                           "(a different size?)")
    model.load_state_dict(matched, strict=False)


@register_architecture("yolov8-seg", task="instance", backbones=SIZES, default_backbone="n",
                input=image_input(size_multiple=32, min_size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
                output=OUTPUT, pretrained="ultralytics weights from <models_dir>/pretrained/yolov8<size>-seg.pt "
                "(trusted-only pickle) or a state_dict there")
def yolov8_seg(*, num_classes: int, backbone: str, pretrained: bool | Path,
               names: tuple[str, ...] | None = None) -> nn.Module:
    """YOLOv8 instance segmentation (ultralytics SegmentationModel), size n / s / m (3.3 / 11.8 / 27.2 M parameters).

    names: class names in output-index order (default "0", "1", ...); stored in the model and its checkpoints.
    """
    from ultralytics.nn.tasks import SegmentationModel, yaml_model_load

    if names is not None and len(names) != num_classes:
        raise InvalidInput(f"yolov8-seg: expected {num_classes} names (num_classes), got {len(names)}")
    cfg = yaml_model_load(_yaml_name(backbone))  # a dict read from the yaml inside the ultralytics package
    cfg["nc"] = num_classes
    model = SegmentationModel(cfg, ch=3, verbose=False)
    _attach_metadata(model, backbone, {i: (names[i] if names else str(i)) for i in range(num_classes)})
    _load_pretrained(model, backbone, pretrained)
    return model


def _segmentation_model(model: Any) -> nn.Module:
    """The SegmentationModel inside ``model`` (itself, or an ultralytics YOLO's ``.model``)."""
    from ultralytics.nn.tasks import SegmentationModel

    inner = getattr(model, "model", None) if not isinstance(model, SegmentationModel) else model
    if not isinstance(inner, SegmentationModel):
        raise InvalidInput(f"expected a yolov8-seg model (create_model('yolov8-seg', ...) or an ultralytics YOLO), "
                           f"got {type(model).__name__}")
    return inner


def as_yolo(model: nn.Module) -> YOLO:
    """An ultralytics ``YOLO`` wrapping ``model`` (the same module, not a copy) for ultralytics' trainer,
    validator, predictor and exporter.

    ``YOLO.train(data=..., amp=False on CPU)`` starts from ``model``'s weights (the wrapper's
    ``ckpt`` is set, so ultralytics transfers them into the model it builds for ``data``'s nc) and
    afterwards replaces ``.model`` by the best checkpoint it wrote. Note: ``YOLO.train`` is
    training, not ``nn.Module.train()``; call ``.model.train()`` for the mode switch.
    """
    from ultralytics import YOLO

    net = _segmentation_model(model)
    size = (net.yaml.get("scale") or "n") if isinstance(getattr(net, "yaml", None), dict) else "n"
    wrapper = YOLO(_yaml_name(size), task="segment")  # builds a throwaway nc=80 model (~0.1-0.5 s), replaced below
    wrapper.model = net
    wrapper.ckpt = {"model": net}
    wrapper.overrides.pop("pretrained", None)
    return wrapper


@torch.inference_mode()
def predict_instances(model: nn.Module, image: np.ndarray, conf: float = 0.25, iou: float = 0.7, imgsz: int = 640,
                      max_det: int = 300) -> list[Instance]:
    """Objects in one image, best score first.

    model: from ``create_model("yolov8-seg", ...)`` (or an ultralytics YOLO)
    image: (H, W, 3) uint8 RGB (not BGR)
    conf: minimum score; iou: NMS IoU threshold; imgsz: the longest side the image is letterboxed to
        (rounded up to a multiple of 32); max_det: at most this many objects
    Returns a list of ``Instance`` with masks (H, W) bool and XYXY boxes at the image's size.

    Mirrors ultralytics' SegmentationPredictor (letterbox, NMS, native-resolution masks) on the
    live module: it uses the current weights, does not copy or fuse the model, and leaves its
    mode and requires_grad as they were.
    """
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils import nms, ops

    net = _segmentation_model(model)
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidInput(f"image: expected (H, W, 3) uint8 RGB, got shape {getattr(image, 'shape', None)} "
                           f"dtype {getattr(image, 'dtype', type(image).__name__)}")
    if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
        raise InvalidInput(f"conf and iou: expected values in [0, 1], got conf={conf}, iou={iou}")
    if isinstance(imgsz, bool) or not isinstance(imgsz, int) or imgsz < 32:
        raise InvalidInput(f"imgsz: expected an integer >= 32, got {imgsz!r}")
    stride = max(int(net.stride.max()), 32)
    size = -(-imgsz // stride) * stride
    letterboxed = LetterBox((size, size), auto=True, stride=stride)(image=image)
    param = next(net.parameters())
    x = torch.from_numpy(np.ascontiguousarray(letterboxed.transpose(2, 0, 1))).to(param.device, param.dtype) / 255.0
    was_training = net.training
    net.eval()
    try:
        out = net(x[None])
    finally:
        net.train(was_training)
    first = out[0] if isinstance(out, (tuple, list)) and isinstance(out[0], (tuple, list)) else out
    preds, protos = first[0], first[1]
    det = nms.non_max_suppression(preds, conf, iou, max_det=max_det, nc=len(net.names),
                                  end2end=getattr(net, "end2end", False))[0]
    if det.shape[0] == 0:
        return []
    boxes = ops.scale_boxes(x.shape[1:], det[:, :4].clone(), image.shape)
    masks = ops.process_mask_native(protos[0], det[:, 6:], boxes, image.shape[:2]).bool()
    keep = masks.flatten(1).any(1)  # ultralytics drops objects whose mask is empty
    masks, boxes, det = masks[keep].cpu().numpy(), boxes[keep].float().cpu().numpy(), det[keep].cpu()
    return [Instance(class_index=int(d[5]), score=float(d[4]), mask=m, box=b.astype(np.float32))
            for d, m, b in zip(det, masks, boxes)]
