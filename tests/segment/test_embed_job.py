"""The "embed" job through a real worker: a demo dataset's embeddings land in the cache."""

from __future__ import annotations

from studio.jobs import enqueue, wait
from studio.jobs.kinds import EmbedSpec
from studio.tables import JobStatus
from tests.conftest import WorkerFactory


def test_embed_job_fills_the_cache_and_reports_unreadable_images(studio_env: dict[str, str], tmp_path,  # noqa: ANN001
                                                                 start_worker: WorkerFactory) -> None:
    from sqlmodel import select

    from studio.datasets import ingest_doc, resolve_stored_path
    from studio.db import session_scope
    from studio.demo import generate_demo
    from studio.segment.cache import get_cache
    from studio.tables import Image

    ingest_doc(generate_demo(tmp_path / "demo", n_images=3, seed=4, width=320, height=240), dataset="shelves")
    with session_scope() as session:
        stored = [resolve_stored_path(p) for p in session.exec(select(Image.stored_path).order_by(Image.id)).all()]
    stored[2].write_bytes(stored[2].read_bytes()[:200])  # a truncated file: counted, not fatal
    start_worker()
    job = wait(enqueue(EmbedSpec(dataset="shelves", segmenter="fallback")), timeout=120)
    assert job.status == JobStatus.succeeded, (job.error, job.log)
    assert job.result["images"] == 3 and job.result["computed"] == 2 and job.result["failed"] == 1
    assert job.result["segmenter"] == "fallback-grabcut-v1" and job.result["seconds"] >= 0
    assert "skipped" in job.log and job.progress == 1.0
    assert job.result["images_per_second"] > 0 and job.result["batch_size"] == 1  # the fallback gains nothing from batches
    assert "images/s at batch 1" in job.log
    assert get_cache().info().by_segmenter["fallback-grabcut-v1"]["entries"] == 2
    again = wait(enqueue(EmbedSpec(dataset="shelves", segmenter="fallback")), timeout=120)
    assert again.result["cached"] == 2 and again.result["computed"] == 0


def test_an_interactive_embed_job_takes_only_its_images_and_jumps_the_lane(studio_env: dict[str, str], tmp_path,  # noqa: ANN001
                                                                          monkeypatch) -> None:  # noqa: ANN001
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo
    from studio.jobs import INLINE_URL, get_job, job_result
    from studio.annotations import image_queue
    from tests.conftest import reset_studio_caches

    ingest_doc(generate_demo(tmp_path / "demo", n_images=3, seed=4, width=160, height=120), dataset="shelves")
    first = image_queue("shelves")[0].id
    assert EmbedSpec(dataset="shelves", images=(first,)).queue_priority() > EmbedSpec(dataset="shelves").queue_priority()
    monkeypatch.setenv("STUDIO_QUEUE_URL", INLINE_URL)
    reset_studio_caches()
    job = get_job(enqueue(EmbedSpec(dataset="shelves", segmenter="fallback", images=(first,))))
    assert job.status == JobStatus.succeeded and job.priority == EmbedSpec.INTERACTIVE_PRIORITY
    assert job_result(job, EmbedSpec).images == 1  # only the annotator's image, not the dataset
