"""What differs between tasks, behind one ``TaskSetup``: datasets, model, loss, how a batch
becomes a loss, how the validation set is scored. ``prepare(config)`` builds it from a
dataset version; the loop (studio/training/loop.py) is the same for all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from studio.errors import InvalidInput
from studio.naming import data_version
from studio.training.config import TrainConfig
from studio.training.losses import auto_class_weights, build_loss


@dataclass
class TaskSetup:
    model: nn.Module
    train_set: Dataset
    val_set: Dataset
    loss: nn.Module
    classes: list[dict[str, Any]]  # what the outputs mean, in registry order (see registry.output_names)
    preprocessing: dict[str, Any]  # written as preprocessing.json
    metric_names: list[str]  # val metrics, in training_log.csv column order
    dataset_label: str  # for the model name
    dataset_version_id: int | None
    task: str = "semantic"  # a studio.tables.Task value
    ignore_index: int = 255  # target value that counts for nothing
    image_input: bool = True  # (B, 3, H, W) inputs (channels_last applies)
    collate: Callable | None = None
    extra_config: dict[str, Any] = field(default_factory=dict)  # stored in checkpoints' config
    input_mean: tuple[float, ...] = ()  # image tasks: the model's normalisation, for batches finished on
    input_std: tuple[float, ...] = ()  # the device (uint8 pixels + augmentation parameters, a CUDA run)
    input_note: str = ""  # a line for the job log about where the inputs come from (the input cache)

    def batch_size_of(self, batch: Any) -> int:
        return int(batch[0].shape[0])

    def to_device(self, batch: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) of ``batch`` on ``device``. A batch of uint8 pixels with augmentation
        parameters (datasets with ``device_side``) is finished there (studio.training.data.finish_batch)."""
        x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
        if x.dtype == torch.uint8:
            from studio.training.data import finish_batch

            x, y = finish_batch(x, y, batch[2], self.input_mean, self.input_std)  # params: decided on the host
        if self.image_input and device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def compute_loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        x, y = self.to_device(batch, device)
        return self.loss(model(x), y)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: Any, device: torch.device,
                 autocast: Any) -> tuple[float, dict[str, float]]:
        """(mean val loss, metrics) over ``loader``."""
        model.eval()
        total, seen = 0.0, 0
        predictions, targets = [], []
        for batch in loader:
            x, y = self.to_device(batch, device)
            with autocast:
                logits = model(x)
                loss = self.loss(logits, y)
            n = int(x.shape[0])
            total, seen = total + float(loss) * n, seen + n
            predictions.append(logits.argmax(1).to(torch.uint8 if logits.shape[1] < 256 else torch.int64).cpu().numpy())
            targets.append(y.cpu().numpy())
        return total / max(seen, 1), self.score(np.concatenate(predictions), np.concatenate(targets))

    def score(self, predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def checkpoint_config(self, config: TrainConfig) -> dict[str, Any]:
        """What a checkpoint must carry to rebuild and read the model anywhere."""
        return {**config.to_dict(), "classes": self.classes, "preprocessing": self.preprocessing,
                "num_outputs": self._num_outputs(), **self.extra_config}

    def _num_outputs(self) -> int:
        from studio.registry import num_outputs

        return num_outputs(self.task, self.classes)


class SemanticSetup(TaskSetup):
    def score(self, predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        from studio.evaluation import ConfusionAccumulator, segmentation_metrics

        num = self._num_outputs()
        acc = ConfusionAccumulator(num, ignore_index=self.ignore_index)
        acc.update(targets.astype(np.int64), predictions.astype(np.int64))
        summary = segmentation_metrics(acc.pooled).summary()
        return {k: float(v) if v is not None else 0.0 for k, v in summary.items()}


class ClassificationSetup(TaskSetup):
    def score(self, predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        from studio.evaluation import classification_metrics

        result = classification_metrics(targets.astype(np.int64), predictions.astype(np.int64), len(self.classes))
        return {"accuracy": float(result.accuracy), "macro_f1": float(result.macro_f1)}


def _version_for(config: TrainConfig):  # noqa: ANN202
    """The dataset version the config names (InvalidInput when it names none)."""
    from studio.training.data import load_version

    if not config.dataset:
        raise InvalidInput("config dataset is empty; expected the name of a dataset")
    if config.dataset_version is None:
        raise InvalidInput("config dataset_version is not set; train on a snapshot (studio snapshot NAME) "
                           "or let the train job take one")
    return load_version(config.dataset, config.dataset_version)


def _image_model(config: TrainConfig, num_outputs: int) -> tuple[nn.Module, dict[str, Any]]:
    from studio.nets import create_model, preprocessing

    model = create_model(config.architecture, num_classes=num_outputs, backbone=config.backbone or None,
                         pretrained=config.pretrained, **config.model_kwargs)
    return model, preprocessing(config.architecture, config.backbone or None)


def _on_cuda(config: TrainConfig) -> bool:
    """Whether the run trains on CUDA: its image datasets then hand out uint8 pixels and the
    last input steps run on the GPU (TaskSetup.to_device)."""
    from studio.device import resolve_device

    return resolve_device(config.device).type == "cuda"


def _class_weights(config: TrainConfig, counts: np.ndarray) -> list[float] | None:
    if config.class_weights == "auto":
        return auto_class_weights(counts)
    return list(config.class_weights) if config.class_weights is not None else None


def prepare_semantic(config: TrainConfig) -> SemanticSetup:
    from studio.registry import num_outputs
    from studio.training.data import SegmentationDataset

    version = _version_for(config)
    train, val = version.train_val()
    classes = [c for c in version.classes if c["index"] != 0]  # 0 is the background channel
    if not classes:
        raise InvalidInput(f"dataset {data_version(config.dataset, version.version)} has no classes to learn")
    outputs = num_outputs("semantic", classes)
    if outputs > 255:
        raise InvalidInput(f"class indices go up to {outputs - 1}; semantic training supports indices below 255")
    model, pre = _image_model(config, outputs)
    mean, std = tuple(pre["mean"]), tuple(pre["std"])
    cache, note = None, ""
    if config.input_cache:
        from studio.training.cache import open_input_cache

        cache = open_input_cache(version.dataset, version.version, version.samples, config.image_size,
                                 config.ignore_index)
        note = cache.note
    device_side = _on_cuda(config)
    train_set = SegmentationDataset(train, config.image_size, mean, std, augment=config.augment, seed=config.seed,
                                    ignore_index=config.ignore_index, cache=cache, device_side=device_side)
    val_set = SegmentationDataset(val, config.image_size, mean, std, ignore_index=config.ignore_index, cache=cache,
                                  device_side=device_side)
    weights = None
    if config.class_weights is not None:
        counts = np.zeros(outputs, np.int64)
        for i in range(len(train_set)):
            label = train_set.label(i)
            counts += np.bincount(label[label != config.ignore_index], minlength=outputs)[:outputs]
        weights = _class_weights(config, counts)
    loss = build_loss(config.loss, outputs, class_weights=weights, ignore_index=config.ignore_index,
                      focal_gamma=config.focal_gamma, label_smoothing=config.label_smoothing)
    pre = {**pre, "image_size": config.image_size, "resize": "longest side to image_size, pad bottom/right"}
    return SemanticSetup(model, train_set, val_set, loss, classes, pre, ["miou", "pixel_accuracy", "mean_dice"],
                         config.dataset, version.version_id, task="semantic", ignore_index=config.ignore_index,
                         input_mean=mean, input_std=std, input_note=note)


def prepare_classification(config: TrainConfig) -> ClassificationSetup:
    from studio.training.data import CropDataset

    if config.classification_source != "crops":
        raise InvalidInput(f"classification_source {config.classification_source!r}: expected 'crops' "
                           "(one sample per annotated object)")
    version = _version_for(config)
    train, val = version.train_val()
    classes = [c for c in version.classes if c["index"] != 0]
    indices = [c["index"] for c in classes]
    model, pre = _image_model(config, len(classes))
    mean, std = tuple(pre["mean"]), tuple(pre["std"])
    device_side = _on_cuda(config)
    train_set = CropDataset(train, indices, config.image_size, mean, std, augment=config.augment, seed=config.seed,
                            device_side=device_side)
    val_set = CropDataset(val, indices, config.image_size, mean, std, device_side=device_side)
    if len(train_set) == 0:
        raise InvalidInput(f"dataset {data_version(config.dataset, version.version)} has no annotated objects "
                           "to crop")
    weights = _class_weights(config, np.bincount(train_set.labels, minlength=len(classes)))
    loss = build_loss(config.loss, len(classes), class_weights=weights, focal_gamma=config.focal_gamma,
                      label_smoothing=config.label_smoothing, segmentation=False)
    pre = {**pre, "image_size": config.image_size, "input": "object crop (box + 10% margin), resized to fit, padded"}
    return ClassificationSetup(model, train_set, val_set, loss, classes, pre, ["accuracy", "macro_f1"],
                               config.dataset, version.version_id, task="classification", input_mean=mean,
                               input_std=std)


def prepare_sequence(config: TrainConfig) -> TaskSetup:
    """Keypoint sequences: studio/training/sequence_task.py (imported lazily; it builds on this module)."""
    from studio.training.sequence_task import prepare_sequence as prepare

    return prepare(config)


PREPARERS: dict[str, Callable[[TrainConfig], TaskSetup]] = {
    "semantic": prepare_semantic,
    "classification": prepare_classification,
    "sequence": prepare_sequence,
}


def prepare(config: TrainConfig) -> TaskSetup:
    """The ``TaskSetup`` of ``config.task`` (InvalidInput for tasks trained elsewhere).
    Seeds torch first, so the random initial weights are a function of ``config.seed``."""
    torch.manual_seed(config.seed)
    try:
        return PREPARERS[config.task](config)
    except KeyError:
        raise InvalidInput(f"task {config.task!r} is not trained by this loop; expected one of "
                           f"{', '.join(PREPARERS)}") from None
