"""The training configuration: one dataclass, a comment per field, read from and saved as
YAML next to the outputs (``config.yaml``). Unknown keys are refused by name, so a typo in
a YAML file never silently falls back to a default."""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from studio.errors import InvalidInput

TASKS = ("semantic", "instance", "classification", "sequence")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("cosine", "step", "exponential", "none")
LOSSES = ("ce", "focal", "dice", "compound")
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # run ids name folders: <data>/runs/<run_id>/
MONITOR_DEFAULT = {"semantic": "miou", "instance": "map50", "classification": "accuracy", "sequence": "accuracy"}


def new_run_id() -> str:
    """A fresh run id (12 hex digits)."""
    return uuid.uuid4().hex[:12]


@dataclass
class TrainConfig:
    # --- what to train --------------------------------------------------------------------
    task: str = "semantic"  # semantic | instance | classification | sequence
    architecture: str = "unet"  # a name from studio.nets (unet, deeplabv3plus, yolov8-seg, resnet18, sign_transformer...)
    backbone: str = "resnet34"  # encoder / size ("resnet18", "efficientnet-b0", "n" for YOLO); "" if none
    pretrained: bool = False  # load local pretrained encoder weights (see studio.nets); random init otherwise
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # extra create_model args (output_stride, emb_dim ...)
    unfreeze: list[list[Any]] = field(default_factory=list)  # progressive unfreezing, [after_epochs, group(, lr_scale)]
    # per entry, e.g. [[0, "head"], [3, "layer4", 0.1], [6, "all", 0.01]]: group ("head", "all" or a module path)
    # trains from epoch after_epochs + 1 at lr * lr_scale; frozen before. [] = all trains from the start
    # (studio/training/unfreeze.py)
    # --- on what ------------------------------------------------------------------------
    dataset: str = ""  # image dataset name (or keypoint dataset name for task=sequence)
    dataset_version: int | None = None  # the snapshot to read; None = take a snapshot when the job starts
    classification_source: str = "crops"  # classification on image datasets: "crops" = one sample per object
    image_size: int = 256  # training side in pixels (images resized to fit, padded to a square); multiple of 32
    sequence_length: int = 32  # sequence task: frames per sample (clips are resampled to this length)
    # --- how ----------------------------------------------------------------------------
    epochs: int = 20  # passes over the training split
    batch_size: int = 8  # samples per optimizer step (before accumulation)
    accumulate: int = 1  # gradient accumulation: optimizer step every N batches
    optimizer: str = "adamw"  # adam | adamw | sgd
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 1e-4  # L2 / decoupled weight decay
    momentum: float = 0.9  # SGD momentum
    scheduler: str = "cosine"  # cosine (with linear warmup) | step | exponential | none
    warmup_epochs: float = 1.0  # cosine: linear warmup from lr/10 over this many epochs
    min_lr: float = 1e-6  # cosine: final lr; floor for step/exponential
    step_size: int = 10  # step: epochs between decays
    gamma: float = 0.1  # step / exponential: decay factor (per step_size / per epoch)
    loss: str = "ce"  # ce | focal | dice | compound (ce + dice)
    focal_gamma: float = 2.0  # focal loss focusing parameter
    class_weights: list[float] | str | None = None  # per-class loss weights, "auto" (inverse sqrt frequency) or none
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    ignore_index: int = 255  # label value ignored by losses and metrics
    augment: dict[str, float] = field(default_factory=lambda: {"hflip": 0.5, "rotate": 10.0, "color_jitter": 0.2})
    # augmentations (albumentations): hflip / vflip probability, rotate max degrees,
    # color_jitter strength, scale (random resized crop, min scale); {} for none
    early_stopping: int = 0  # stop after this many epochs without improvement of the monitored metric; 0 = off
    monitor: str = ""  # the val metric that picks the best checkpoint; default per task (miou, accuracy ...)
    seed: int = 0  # seeds python, numpy and torch: same config, same result (on CPU)
    num_workers: int = -1  # data loader workers (kept across epochs); -1 = CPU cores - 1, at most 8 on CUDA, 4 on a CPU
    input_cache: bool = True  # image tasks: read the version decoded + resized once into <data>/cache (see
    # studio/training/cache.py); false: decode every image in every run
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision (bf16/fp16) on CUDA; ignored on CPU
    channels_last: bool = True  # channels_last memory format on CUDA; ignored on CPU
    max_train_batches: int = 0  # cap batches per epoch (0 = all): quick tests and dry runs
    gpus: int = 1  # processes of one run (DDP via torchrun, studio/training/distributed.py): one per GPU;
    # batch_size stays the global batch (a multiple of gpus); on a machine without GPUs, CPU processes (gloo)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def monitor_metric(self) -> str:
        return self.monitor or MONITOR_DEFAULT[self.task]

    def validate(self) -> None:
        """InvalidInput naming the field, the value and what was expected."""
        choices = {"task": TASKS, "optimizer": OPTIMIZERS, "scheduler": SCHEDULERS, "loss": LOSSES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InvalidInput(f"config {name}: {getattr(self, name)!r}; expected one of {', '.join(allowed)}")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "accumulate": self.accumulate,
                    "image_size": self.image_size, "sequence_length": self.sequence_length, "step_size": self.step_size}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise InvalidInput(f"config {name}: {value!r}; expected a positive integer")
        if self.task in ("semantic", "instance") and self.image_size % 32:
            raise InvalidInput(f"config image_size: {self.image_size}; expected a multiple of 32 for {self.task} models")
        if not (self.lr > 0 and self.min_lr >= 0 and self.weight_decay >= 0 and 0 < self.gamma <= 1):
            raise InvalidInput(f"config: expected lr > 0, min_lr >= 0, weight_decay >= 0, 0 < gamma <= 1; got "
                               f"lr={self.lr}, min_lr={self.min_lr}, weight_decay={self.weight_decay}, gamma={self.gamma}")
        if isinstance(self.class_weights, str) and self.class_weights != "auto":
            raise InvalidInput(f"config class_weights: {self.class_weights!r}; expected a list of numbers, 'auto' or null")
        from studio.training.unfreeze import parse_schedule

        parse_schedule(self.unfreeze)  # InvalidInput naming the bad entry
        if not isinstance(self.gpus, int) or self.gpus < 1:
            raise InvalidInput(f"config gpus: {self.gpus!r}; expected a positive integer")
        if self.gpus > 1:
            if self.task not in ("semantic", "classification", "sequence") or self.architecture.startswith("classical"):
                raise InvalidInput(f"config gpus: {self.gpus} processes train segmentation, classification and "
                                   f"sequence models; {self.task} / {self.architecture} trains on one (gpus: 1)")
            if self.batch_size % self.gpus:
                raise InvalidInput(f"config batch_size {self.batch_size} is the global batch of {self.gpus} processes: "
                                   f"expected a multiple of gpus ({self.gpus})")
            if self.unfreeze:
                raise InvalidInput("config unfreeze: progressive unfreezing runs on one process; use gpus: 1 "
                                   "(DDP fixes the trained parameters when it starts)")
        unknown_aug = set(self.augment) - {"hflip", "vflip", "rotate", "color_jitter", "scale"}
        if unknown_aug:
            raise InvalidInput(f"config augment: unknown {sorted(unknown_aug)}; expected hflip, vflip, rotate, "
                               "color_jitter, scale")

    # -- YAML ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        if not isinstance(data, dict):
            raise InvalidInput(f"training config: expected a mapping of fields, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            import difflib

            hints = [f"{u} (did you mean {difflib.get_close_matches(u, known, 1)[0]}?)"
                     if difflib.get_close_matches(u, known, 1) else u for u in unknown]
            raise InvalidInput(f"training config: unknown field(s) {', '.join(hints)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise InvalidInput(f"training config: {exc}") from None

    @classmethod
    def from_yaml(cls, path: Path, **overrides: Any) -> TrainConfig:
        """Read ``path``; ``overrides`` (not None) win over the file."""
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"{path}: not a readable YAML training config ({exc})") from None
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data)

    def save(self, path: Path) -> Path:
        """Write as YAML (temp name, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        tmp.replace(path)
        return path
