"""Active learning: ``rank``, a dataset's images still to label ordered by a version's
uncertainty (or two versions' disagreement), stored so the Label page's "next to do" follows it;
optionally the top K pre-labelled as drafts (``studio.active``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from studio.active import RankReport
from studio.errors import InvalidInput
from studio.jobs.context import JobContext
from studio.jobs.spec import JobSpec, job_kind

Method = Literal["entropy", "margin", "disagreement"]


@job_kind
@dataclass(frozen=True, kw_only=True)
class RankSpec(JobSpec[RankReport]):
    """Rank ``dataset``'s unlabelled images by ``model``'s uncertainty (``method``), or by the
    disagreement of ``model`` and ``other_model``; ``prelabel_top`` > 0 also pre-labels the first
    K as drafts (segmentation models)."""

    kind: ClassVar[str] = "rank"
    result_type: ClassVar[type] = RankReport
    resources: ClassVar[str] = "gpu"

    dataset: str
    model: str
    method: Method = "entropy"
    other_model: str | None = None  # method disagreement: the second version
    split: str | None = None  # only images of this split
    limit: int | None = None  # at most this many images (in import order)
    prelabel_top: int = 0  # pre-label the first K of the new order as drafts
    min_score: float = 0.5  # pre-labelling: drafts need at least this score
    runtime: Literal["torch", "onnx", "onnx_int8"] = "torch"
    device: str | None = None

    def validate(self) -> None:
        if not self.dataset.strip() or not str(self.model).strip():
            raise InvalidInput("rank job: expected a dataset and a model version")
        if (self.method == "disagreement") != (self.other_model is not None):
            raise InvalidInput(f"rank job method {self.method!r}: disagreement takes a second model version "
                               "(other_model / --against), entropy and margin none")
        if self.limit is not None and self.limit < 1:
            raise InvalidInput(f"rank job limit {self.limit}: expected at least 1 image")
        if self.prelabel_top < 0 or not 0.0 <= self.min_score <= 1.0:
            raise InvalidInput(f"rank job: expected prelabel_top >= 0 and 0 <= min_score <= 1; got "
                               f"{self.prelabel_top}, {self.min_score}")

    def prepare(self) -> RankSpec:
        from studio.active import check_rankable
        from studio.registry import get_model

        check_rankable(get_model(self.model), self.dataset,
                       get_model(self.other_model) if self.other_model is not None else None)
        return self

    def run(self, ctx: JobContext) -> RankReport:
        from studio.active import prelabel_top, rank_dataset

        share = 0.7 if self.prelabel_top else 1.0
        report = rank_dataset(self.model, self.dataset, method=self.method, other_model=self.other_model,
                              split=self.split, limit=self.limit, runtime=self.runtime, device=self.device,
                              job_id=ctx.job_id, progress=lambda f, m: ctx.progress(share * f, m))
        ctx.log(f"ranking {report.ranking_id}: {report.ranked} images of {self.dataset} by {self.method}; first: "
                + ", ".join(f"{name} {score:.3f}" for name, score in report.top[:5]))
        if self.prelabel_top:
            drafts = prelabel_top(self.dataset, self.prelabel_top, self.model, min_score=self.min_score,
                                  runtime=self.runtime, device=self.device,
                                  progress=lambda f, m: ctx.progress(share + (1 - share) * f, m))
            report.prelabelled, report.drafts = drafts.labelled, drafts.annotations
            ctx.log(f"pre-labelled the first {self.prelabel_top}: {drafts.annotations} drafts on {drafts.labelled} images")
        return report

    def describe(self) -> str:
        by = f"disagreement of {self.model} and {self.other_model}" if self.other_model else f"{self.model}'s {self.method}"
        return f"rank {self.dataset} by {by}"
