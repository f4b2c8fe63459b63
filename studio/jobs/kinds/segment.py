"""``embed``: precompute (and cache) the SAM embedding of every image of a dataset."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from studio.jobs.context import JobContext
from studio.jobs.spec import JobSpec, job_kind


@dataclass(frozen=True)
class EmbedResult:
    images: int  # images of the dataset
    computed: int  # embeddings computed now
    cached: int  # already in the cache
    failed: int  # unreadable images (named in the job log)
    segmenter: str  # the segmenter id (model + weights)
    seconds: float


@job_kind
@dataclass(frozen=True, kw_only=True)
class EmbedSpec(JobSpec[EmbedResult]):
    kind: ClassVar[str] = "embed"
    result_type: ClassVar[type] = EmbedResult
    resources: ClassVar[str] = "gpu"

    dataset: str
    segmenter: str | None = None  # a STUDIO_SAM_MODEL value (auto | vit_b | vit_l | vit_h | fallback)

    def validate(self) -> None:
        from studio.errors import InvalidInput
        from studio.segment.registry import SETTINGS

        if self.segmenter is not None and self.segmenter not in SETTINGS:
            raise InvalidInput(f"embed job segmenter {self.segmenter!r}; expected one of {', '.join(SETTINGS)}")

    def prepare(self) -> EmbedSpec:
        from studio.datasets import get_dataset
        from studio.db import session_scope

        with session_scope() as session:
            get_dataset(session, self.dataset)  # NotFound naming the datasets, before anything is queued
        return self

    def run(self, ctx: JobContext) -> EmbedResult:
        """Cached embeddings are skipped; an image that cannot be read is counted and named in
        the log, not fatal."""
        from sqlmodel import select

        from studio.datasets import get_dataset, resolve_stored_path
        from studio.db import session_scope
        from studio.errors import StudioError
        from studio.segment.registry import choose_segmenter, embedding_for
        from studio.tables import Image

        started = time.perf_counter()
        with session_scope() as session:
            dataset = get_dataset(session, self.dataset)
            rows = session.exec(select(Image.content_hash, Image.stored_path, Image.file_name)
                                .where(Image.dataset_id == dataset.id).order_by(Image.id)).all()
            images = [(h, resolve_stored_path(p), name) for h, p, name in rows]
        choice = choose_segmenter(self.segmenter)
        segmenter = choice.segmenter
        ctx.log(f"embedding {len(images)} images of {self.dataset!r} with {segmenter.id}: {choice.note}")
        computed = cached = failed = 0
        for i, (content_hash, path, name) in enumerate(images, start=1):
            try:
                _, source = embedding_for(segmenter, content_hash, path)
            except (StudioError, OSError, ValueError) as exc:
                failed += 1
                ctx.log(f"{name}: skipped, {exc}")
            else:
                if source == "computed":
                    computed += 1
                else:
                    cached += 1
            ctx.progress(i / len(images), f"{i}/{len(images)} images ({computed} computed, {cached} cached"
                                          f"{f', {failed} unreadable' if failed else ''})")
        if not images:
            ctx.progress(1.0, "the dataset has no images")
        return EmbedResult(images=len(images), computed=computed, cached=cached, failed=failed,
                           segmenter=segmenter.id, seconds=round(time.perf_counter() - started, 3))

    def describe(self) -> str:
        return f"embed {self.dataset}"
