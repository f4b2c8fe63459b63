"""``embed``: precompute (and cache) the SAM embedding of every image of a dataset, in batches
(studio.segment.batching: decode threads, batched encoder, a writer thread)."""

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
    seconds: float  # the whole job
    images_per_second: float = 0.0  # computed images per second of the batched pipeline (after the warm-up)
    batch_size: int = 0  # images per encoder call at the end (halved when the GPU ran out of memory)
    warmup_seconds: float = 0.0  # building the model (and on CUDA compiling its encoder) before the first batch


@job_kind
@dataclass(frozen=True, kw_only=True)
class EmbedSpec(JobSpec[EmbedResult]):
    kind: ClassVar[str] = "embed"
    result_type: ClassVar[type] = EmbedResult
    resources: ClassVar[str] = "gpu"

    dataset: str
    segmenter: str | None = None  # a STUDIO_SAM_MODEL value (auto | vit_b | vit_l | vit_h | fallback)
    batch_size: int | None = None  # images per encoder call; None: the segmenter's (SAM: 8 on CUDA, 1 on a CPU,
    # where 2 vit_b images in one batch took 17.3 s of CPU time against 18.8 s, the same wall time, and the
    # first waits for the second); halved and retried when the GPU runs out of memory
    images: tuple[int, ...] = ()  # only these image ids (an annotator's next images: interactive, so they
    # jump ahead of dataset-wide embedding in the gpu lane); () = every image of the dataset

    INTERACTIVE_PRIORITY: ClassVar[int] = 10

    def queue_priority(self) -> int:
        return self.INTERACTIVE_PRIORITY if self.images else self.priority

    def validate(self) -> None:
        from studio.errors import InvalidInput
        from studio.segment.registry import SETTINGS

        if self.segmenter is not None and self.segmenter not in SETTINGS:
            raise InvalidInput(f"embed job segmenter {self.segmenter!r}; expected one of {', '.join(SETTINGS)}")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 256):
            raise InvalidInput(f"embed job batch_size {self.batch_size!r}; expected an integer from 1 to 256")

    def prepare(self) -> EmbedSpec:
        from studio.datasets import get_dataset
        from studio.db import session_scope

        with session_scope() as session:
            get_dataset(session, self.dataset)  # NotFound naming the datasets, before anything is queued
        return self

    def run(self, ctx: JobContext) -> EmbedResult:
        """Cached embeddings are skipped before their image is read; an image that cannot be
        read is counted and named in the log, not fatal. Cancel stops between batches."""
        from sqlmodel import select

        from studio.datasets import get_dataset, resolve_stored_path
        from studio.db import session_scope
        from studio.segment.batching import BatchStats, Item, embed_many
        from studio.segment.cache import get_cache
        from studio.segment.registry import choose_segmenter
        from studio.tables import Image

        started = time.perf_counter()
        with session_scope() as session:
            dataset = get_dataset(session, self.dataset)
            query = select(Image.content_hash, Image.stored_path, Image.file_name).where(Image.dataset_id == dataset.id)
            if self.images:
                query = query.where(Image.id.in_(self.images))  # type: ignore[union-attr]
            rows = session.exec(query.order_by(Image.id)).all()
            items = [Item(h, resolve_stored_path(p), name) for h, p, name in rows]
        choice = choose_segmenter(self.segmenter)
        segmenter = choice.segmenter
        ctx.log(f"embedding {len(items)} images of {self.dataset!r} with {segmenter.id}: {choice.note}")
        cache = get_cache()
        batch_size = self.batch_size or segmenter.batch_size
        warmup = 0.0
        if items and hasattr(segmenter, "warm_up") and any(not cache.contains(segmenter.id, i.content_hash)
                                                           for i in items):
            warmup = segmenter.warm_up(batch_size)
            ctx.log(f"encoder ready in {warmup:.1f} s ({getattr(segmenter, 'runtime', segmenter.name)})")

        def progress(stats: BatchStats) -> None:
            done = stats.computed + stats.cached + stats.failed
            ctx.progress(done / max(len(items), 1),
                         f"{done}/{len(items)} images ({stats.computed} computed, {stats.cached} cached"
                         f"{f', {stats.failed} unreadable' if stats.failed else ''}; "
                         f"{stats.images_per_second:.1f} img/s)")

        stats = embed_many(segmenter, cache, items, batch_size=batch_size, remember=False,
                           on_progress=progress, on_failed=lambda name, exc: ctx.log(f"{name}: skipped, {exc}"),
                           on_halve=lambda size, exc: ctx.log(f"out of GPU memory: batch halved to {size}"),
                           should_stop=ctx.should_stop)
        if ctx.should_stop():
            from studio.errors import StudioError

            raise StudioError(f"embed job stopped after {stats.computed} of {len(items)} images (cancelled)")
        if not items:
            ctx.progress(1.0, "the dataset has no images")
        if stats.computed:
            ctx.log(f"computed {stats.computed} embeddings in {stats.seconds:.1f} s: "
                    f"{stats.images_per_second:.1f} images/s at batch {stats.batch_size}")
        return EmbedResult(images=len(items), computed=stats.computed, cached=stats.cached, failed=stats.failed,
                           segmenter=segmenter.id, seconds=round(time.perf_counter() - started, 3),
                           images_per_second=round(stats.images_per_second, 2), batch_size=stats.batch_size,
                           warmup_seconds=round(warmup, 3))

    def describe(self) -> str:
        return f"embed {self.dataset}"
