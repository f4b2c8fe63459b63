"""Job kinds of the segment feature (``embed``: precompute a dataset's image embeddings)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from backend.kinds import _require, job_kind

if TYPE_CHECKING:
    from studio.jobs import JobContext


@job_kind("embed")
def embed_body(ctx: JobContext) -> dict[str, Any]:
    """params: {"dataset": name, "segmenter": optional STUDIO_SAM_MODEL value}. Computes and
    caches the embedding of every image of the dataset (cached ones are skipped); an image
    that cannot be read is counted and named in the log, not fatal.

    Returns {"images", "computed", "cached", "failed", "segmenter", "seconds"}."""
    from sqlmodel import select

    from studio.datasets import get_dataset, resolve_stored_path
    from studio.db import session_scope
    from studio.errors import StudioError
    from studio.segment.registry import choose_segmenter, embedding_for
    from studio.tables import Image

    params = ctx.params
    _require(params, "dataset")
    started = time.perf_counter()
    with session_scope() as session:
        dataset = get_dataset(session, params["dataset"])
        rows = session.exec(select(Image.content_hash, Image.stored_path, Image.file_name)
                            .where(Image.dataset_id == dataset.id).order_by(Image.id)).all()
        images = [(h, resolve_stored_path(p), name) for h, p, name in rows]
    choice = choose_segmenter(params.get("segmenter"))
    segmenter = choice.segmenter
    ctx.log(f"embedding {len(images)} images of {params['dataset']!r} with {segmenter.id}: {choice.note}")
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
    return {"images": len(images), "computed": computed, "cached": cached, "failed": failed,
            "segmenter": segmenter.id, "seconds": round(time.perf_counter() - started, 3)}
