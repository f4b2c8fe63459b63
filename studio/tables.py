"""SQLModel tables of ``annotations.db``. Schema changes go through alembic (studio/migrations).

Masks are stored as COCO RLE JSON (``{"size": [h, w], "counts": "<compressed str>"}``);
bboxes as COCO ``[x, y, w, h]`` in pixels. Times are UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, timezone-aware UTC (sqlmodel's UTCDateTime columns refuse naive values)."""
    return datetime.now(timezone.utc)


class Split(str, Enum):
    train = "train"
    val = "val"
    test = "test"


class Task(str, Enum):
    """What a model predicts; decides its metrics, its export and how pages draw it."""

    semantic = "semantic"  # a class per pixel (UNet, DeepLabV3+)
    instance = "instance"  # masks per object with a class and score (YOLOv8-seg)
    classification = "classification"  # one class per image
    sequence = "sequence"  # a keypoint sequence -> gloss (+ category) (sign language)


class AnnotationStatus(str, Enum):
    draft = "draft"
    accepted = "accepted"
    rejected = "rejected"


class JobStatus(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


# Annotation.source values: "manual", "sam", "fallback", "import", or "model:<version>".
ANNOTATION_SOURCES = ("manual", "sam", "fallback", "import")


class Dataset(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    description: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class LabelClass(SQLModel, table=True):
    """A class of a dataset. ``index`` is the value in masks / model outputs (0 = background
    when a dataset names one; imported COCO keeps its category ids) and never changes once
    given. ``position`` is the display order the user chose (the Label page's 1-9 keys follow
    it): classes are listed background first, then by (position, index)."""

    __table_args__ = (
        UniqueConstraint("dataset_id", "name", name="uq_labelclass_dataset_name"),
        UniqueConstraint("dataset_id", "index", name="uq_labelclass_dataset_index"),
    )
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    name: str
    color: str = "#ff0000"  # "#rrggbb"
    index: int
    position: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Image(SQLModel, table=True):
    """An image of a dataset. ``content_hash`` is the sha256 of the original file bytes."""

    __table_args__ = (UniqueConstraint("dataset_id", "content_hash", name="uq_image_dataset_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    content_hash: str = Field(max_length=64)
    file_name: str  # the name it was imported under (relative path inside the source)
    stored_path: str  # absolute, or relative to the data dir for the content-addressed store
    width: int
    height: int
    split: str = Field(default=Split.train.value)
    # "Send to review" (Compare page): the image comes back into the Label page's queue.
    review_requested: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    review_note: str = Field(default="", sa_column_kwargs={"server_default": ""})
    # A reviewer's decision on the image (studio.review): "" (none yet) | "accepted" | "rejected",
    # who, when, and the note they left for the annotators.
    review_state: str = Field(default="", max_length=16, sa_column_kwargs={"server_default": ""})
    reviewed_by: str = Field(default="", sa_column_kwargs={"server_default": ""})
    reviewed_at: datetime | None = None
    review_reply: str = Field(default="", sa_column_kwargs={"server_default": ""})
    created_at: datetime = Field(default_factory=utcnow)


class Annotation(SQLModel, table=True):
    __table_args__ = (Index("ix_annotation_image_status", "image_id", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    image_id: int = Field(foreign_key="image.id", index=True, ondelete="CASCADE")
    class_id: int = Field(foreign_key="labelclass.id", index=True, ondelete="CASCADE")
    rle: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    bbox: list[float] = Field(sa_column=Column(JSON, nullable=False))  # [x, y, w, h]
    area: int = 0
    iscrowd: bool = False
    score: float | None = None
    source: str = "manual"
    status: str = Field(default=AnnotationStatus.accepted.value)
    author: str = ""  # who made it (the login's user name; OS user / STUDIO_AUTHOR without logins)
    seconds_spent: float = 0.0
    # Every edit counts ``version`` up; an edit based on an older version is refused
    # (studio.annotations.StaleEdit), so nobody silently overwrites someone else's change.
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    updated_by: str = Field(default="", sa_column_kwargs={"server_default": ""})  # who made the last edit
    reviewed_by: str = Field(default="", sa_column_kwargs={"server_default": ""})  # reviewer of its status
    reviewed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DatasetVersion(SQLModel, table=True):
    """An immutable snapshot of a dataset (images, classes and accepted annotations).

    Rows of ``VersionImage`` / ``VersionAnnotation`` copy what training needs, so later
    edits or deletions of the live dataset never change a version.
    """

    __table_args__ = (UniqueConstraint("dataset_id", "version", name="uq_datasetversion_dataset_version"),)
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    version: int  # 1, 2, ... per dataset
    note: str = ""
    classes: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # [{name, color, index}]
    image_count: int = 0
    annotation_count: int = 0
    # sha256 of the content (images, classes, accepted annotations; studio.datasets.content_fingerprint):
    # a snapshot of unchanged content reuses this version instead of writing a copy ("" = not computed yet)
    fingerprint: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    created_at: datetime = Field(default_factory=utcnow)


class VersionImage(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="datasetversion.id", index=True, ondelete="CASCADE")
    image_id: int | None = None  # the live image it came from (may since have been deleted)
    content_hash: str = Field(max_length=64)
    file_name: str
    stored_path: str
    width: int
    height: int
    split: str


class VersionAnnotation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    version_image_id: int = Field(foreign_key="versionimage.id", index=True, ondelete="CASCADE")
    class_index: int
    rle: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    bbox: list[float] = Field(sa_column=Column(JSON, nullable=False))
    area: int = 0
    iscrowd: bool = False


class Job(SQLModel, table=True):
    """A unit of long work run by the worker; the page and CLI poll this row."""

    id: str = Field(primary_key=True, max_length=32)  # uuid4 hex
    kind: str = Field(index=True)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=JobStatus.queued.value, index=True)
    progress: float = 0.0  # 0..1
    message: str = ""
    log: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str | None = None
    cancel_requested: bool = False
    queue_task_id: str | None = None  # huey task id (to revoke a queued job)
    lane: str = Field(default="cpu", max_length=8)  # "gpu" | "cpu" | "multi": the queue it is on (JobSpec.lane())
    priority: int = 0  # higher runs first
    attempts: int = 0  # times a worker started it; writes of an older attempt are refused
    worker_id: str | None = Field(default=None, max_length=32, index=True)  # the Worker running it
    worker_host: str | None = None
    worker_pid: int | None = None  # pid of the child process running the body
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Worker(SQLModel, table=True):
    """A running worker process: it updates ``last_seen`` every few seconds; the others put the
    jobs of a worker not seen for a while back on the queue (``backend.heartbeat``)."""

    id: str = Field(primary_key=True, max_length=32)  # uuid4 hex
    host: str
    pid: int
    lanes: str  # "gpu,cpu": the queues it consumes
    devices: str  # "cuda:0", "cpu" ...: what its jobs run on
    started_at: datetime = Field(default_factory=utcnow)
    last_seen: datetime = Field(default_factory=utcnow, index=True)


class ModelVersion(SQLModel, table=True):
    """A trained or imported model: one folder ``<models_dir>/<task>/<name>/`` with its files.

    ``name`` is ``{architecture}_{backbone}_{dataset}_v{semver}_{YYYYMMDD}`` (unique);
    ``semver`` counts up per (architecture, backbone, dataset) lineage.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    semver: str = "1.0.0"
    task: str = Field(index=True)  # a Task value
    architecture: str
    backbone: str = ""
    classes: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # [{name, index, color}]
    dataset_version_id: int | None = Field(default=None, foreign_key="datasetversion.id", ondelete="SET NULL")
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    files: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # role -> file
    folder: str  # relative to the models dir
    checksum: str = ""  # sha256 of the weights file users load (files["best"] or files["onnx"])
    source: str = "trained"  # trained | imported
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL",
                                  unique=True)  # a job's effect happens once
    created_at: datetime = Field(default_factory=utcnow)


class EpochLog(SQLModel, table=True):
    """One epoch of a training job (the same numbers as its ``training_log.csv``)."""

    __table_args__ = (UniqueConstraint("job_id", "epoch", name="uq_epochlog_job_epoch"),)
    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="job.id", index=True, ondelete="CASCADE")
    epoch: int  # 1-based
    train_loss: float | None = None
    val_loss: float | None = None
    lr: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    seconds: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)


class Evaluation(SQLModel, table=True):
    """A model version scored on one split of a dataset version.

    ``summary``: semantic {miou, pixel_accuracy, mean_dice}; instance adds {ap, ap50, ap75};
    classification / sequence {accuracy, macro_f1, weighted_f1} (per head for sequence).
    ``confusion``: the pooled matrix, rows = ground truth, columns = prediction.
    """

    id: int | None = Field(default=None, primary_key=True)
    model_version_id: int = Field(foreign_key="modelversion.id", index=True, ondelete="CASCADE")
    dataset_version_id: int | None = Field(default=None, foreign_key="datasetversion.id", ondelete="SET NULL")
    split: str
    task: str
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    confusion: list[list[int]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    image_count: int = 0
    seconds: float = 0.0
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL",
                                  unique=True)  # a job's effect happens once
    created_at: datetime = Field(default_factory=utcnow)


class EvaluationClass(SQLModel, table=True):
    """Per-class metrics of an evaluation (None where a metric does not apply)."""

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True, ondelete="CASCADE")
    class_index: int
    name: str
    iou: float | None = None
    dice: float | None = None
    precision: float | None = None
    recall: float | None = None
    accuracy: float | None = None
    f1: float | None = None
    support: int = 0  # ground-truth pixels (segmentation) or samples (classification)


class EvaluationImage(SQLModel, table=True):
    """One image (or sample) of an evaluation: its own confusion matrix (segmentation) or
    its true / predicted label (classification), so per-image views need no re-run."""

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True, ondelete="CASCADE")
    version_image_id: int | None = Field(default=None, foreign_key="versionimage.id", ondelete="SET NULL")
    file_name: str
    score: float | None = None  # per-image mIoU (segmentation) or 1/0 correct; None: nothing to score
    confusion: list[list[int]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    labels: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))  # {true, pred, prob}
    prediction_path: str | None = None  # predicted label map (PNG), relative to the models dir


class ModelBenchmark(SQLModel, table=True):
    """Inference speed of a model version on one runtime and device."""

    id: int | None = Field(default=None, primary_key=True)
    model_version_id: int = Field(foreign_key="modelversion.id", index=True, ondelete="CASCADE")
    runtime: str  # torch | onnxruntime | torchscript
    device: str  # "cpu", "cuda: NVIDIA H100 80GB HBM3", ...
    batch_size: int = 1
    input_size: str = ""  # "512x512"
    latency_mean_ms: float = 0.0
    latency_std_ms: float = 0.0
    latency_p95_ms: float = 0.0
    fps: float = 0.0  # images per second (batch_size / mean latency)
    peak_memory_mb: float | None = None  # GPU memory on CUDA, process RSS growth on CPU
    # what ran the network: "torch compiled (inductor, CUDA graphs, bfloat16, channels_last)",
    # "torch eager (float32)", "onnxruntime TensorRT" | "onnxruntime CUDA" | "onnxruntime CPU"; "" = not recorded
    provider: str = Field(default="", sa_column_kwargs={"server_default": ""})
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL",
                                  unique=True)  # a job's effect happens once
    created_at: datetime = Field(default_factory=utcnow)


class ProductionSlot(SQLModel, table=True):
    """The version in production for one (dataset, task): at most one per pair. The history of
    promotions is ``Promotion``; a removed version leaves its slot empty (cascade)."""

    __table_args__ = (UniqueConstraint("dataset", "task", name="uq_productionslot_dataset_task"),)
    id: int | None = Field(default=None, primary_key=True)
    dataset: str  # the dataset name (image or keypoint dataset) the slot serves
    task: str  # a Task value
    model_version_id: int = Field(foreign_key="modelversion.id", index=True, ondelete="CASCADE")
    promoted_at: datetime = Field(default_factory=utcnow)
    note: str = ""


class Promotion(SQLModel, table=True):
    """One promotion to production (what the per-model changelog and the slot's history read)."""

    id: int | None = Field(default=None, primary_key=True)
    dataset: str
    task: str
    model_version_id: int = Field(foreign_key="modelversion.id", index=True, ondelete="CASCADE")
    replaced: str = ""  # the name of the version it took the slot from ("" when the slot was empty)
    note: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Ranking(SQLModel, table=True):
    """An order of a dataset's unlabelled images by a version's uncertainty (or two versions'
    disagreement), most useful to label first (``studio.active``); the newest one per dataset is
    the order "next to do" follows."""

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    method: str  # entropy | margin | disagreement
    model: str  # the version's name (kept when the version is removed)
    other_model: str = ""  # disagreement: the second version's name
    model_version_id: int | None = Field(default=None, foreign_key="modelversion.id", ondelete="SET NULL")
    image_count: int = 0
    seconds: float = 0.0
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL",
                               unique=True)  # a job's effect happens once
    created_at: datetime = Field(default_factory=utcnow)


class RankedImage(SQLModel, table=True):
    """One image of a ranking: its place (0 = label first) and score (higher = more uncertain)."""

    __table_args__ = (Index("ix_rankedimage_ranking_position", "ranking_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    ranking_id: int = Field(foreign_key="ranking.id", index=True, ondelete="CASCADE")
    image_id: int = Field(foreign_key="image.id", index=True, ondelete="CASCADE")
    position: int
    score: float


# ---- a team: users, leases, assignments, edit history (studio.users, studio.leases) -------------


class Role(str, Enum):
    """What a user may do (studio.users.can): annotators label, reviewers also review, admins
    do everything (models, jobs, users, assignments)."""

    annotator = "annotator"
    reviewer = "reviewer"
    admin = "admin"


class User(SQLModel, table=True):
    """A person who logs in. ``name`` is lower case (studio.users.check_name); ``password_hash``
    is an argon2id PHC string ("" = no local password: OIDC login only). Session cookies carry
    ``session_epoch``: a new password, a new role, disabling or removing the user counts it up, and
    every cookie issued before stops working."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64)
    role: str = Field(default=Role.annotator.value, max_length=16)
    password_hash: str = ""
    email: str = Field(default="", index=True)  # matched against an OIDC login's e-mail ("" = none)
    disabled: bool = False
    session_epoch: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class Lease(SQLModel, table=True):
    """Who is working on an image right now. One row per image at most (the primary key), taken
    and renewed by compare-and-set (studio.leases): two annotators never hold the same image. A
    lease whose ``expires_at`` has passed is free for anyone."""

    image_id: int = Field(primary_key=True, foreign_key="image.id", ondelete="CASCADE")
    holder: str = Field(index=True)  # user name
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class Assignment(SQLModel, table=True):
    """Images of a dataset an admin gave to a user: every non-empty condition must hold (split,
    labelling status, file-name glob, 1-based position range in import order). A user with
    assignments in a dataset gets only the images of their assignments as "next to do"."""

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    split: str = ""  # "" = any
    status: str = ""  # unlabelled | draft | review | done; "" = any
    pattern: str = ""  # fnmatch glob on the file name, e.g. "aisle3/*.jpg"; "" = any
    first: int | None = None  # position range, inclusive (None = open end)
    last: int | None = None
    note: str = ""
    created_by: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class AnnotationRevision(SQLModel, table=True):
    """One version of an annotation as it was written (created, edited, reviewed, deleted): what a
    refused stale edit compares against ("class can -> bottle by bob at 14:03"). Kept after the
    annotation is deleted (no foreign key to it)."""

    __table_args__ = (Index("ix_annotationrevision_annotation_version", "annotation_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    annotation_id: int
    image_id: int = Field(foreign_key="image.id", index=True, ondelete="CASCADE")
    version: int
    action: str = Field(max_length=16)  # created | updated | reviewed | deleted
    class_id: int | None = None
    class_name: str = ""
    status: str = ""
    area: int = 0
    editor: str = ""
    at: datetime = Field(default_factory=utcnow)
