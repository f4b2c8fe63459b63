"""The queue interface (studio.jobs), one suite run against both storages: huey's SQLite
file and a real Redis server. Every test that runs jobs runs them on a real worker process
(``backend.worker.run_worker``) whose children run the job bodies."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from studio.errors import InvalidInput, NotFound
from studio.jobs.kinds import SleepResult, SleepSpec
from studio.tables import JobStatus

LONG = SleepSpec(seconds=60, steps=60)  # a sleep job that runs until it is cancelled


def reset_caches() -> None:
    """Settings, engines and huey instances are cached per process; clear after env changes."""
    from studio.config import get_settings
    from studio.db import _engine_for
    from studio.jobs import get_huey

    get_settings.cache_clear()
    _engine_for.cache_clear()
    get_huey.cache_clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throw-away redis-server on a free loopback port (no persistence)."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server); Redis storage untested")
    import redis

    port = free_port()
    server = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(url).ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(answers, 10, f"redis-server on port {port}")
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(
    request: pytest.FixtureRequest, studio_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """The queue URL of this run of the suite: studio_env's SQLite file, or an emptied Redis db."""
    if request.param == "sqlite":
        return studio_env["STUDIO_QUEUE_URL"]
    url: str = request.getfixturevalue("redis_url")
    import redis

    redis.Redis.from_url(url).flushdb()
    monkeypatch.setenv("STUDIO_QUEUE_URL", url)
    reset_caches()
    return url


@pytest.fixture
def worker(queue_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker process (2 threads) on this test's database and queue."""
    from backend.worker import spawn_worker

    log_file = tmp_path / "worker.log"
    process = spawn_worker(2, log_file=log_file)
    yield process
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    print(log_file.read_text()[-4000:])  # shown when the test failed


def test_a_job_runs_to_success(worker: subprocess.Popen[bytes]) -> None:
    from studio.jobs import enqueue, get_job, wait

    job_id = enqueue(SleepSpec(seconds=0.3, steps=3))
    queued = get_job(job_id)
    assert queued.kind == "sleep" and queued.params == {"seconds": 0.3, "steps": 3, "fail": False}
    assert queued.queue_task_id  # huey's task id, to revoke it while queued
    job = wait(job_id, timeout=20)
    assert job.status == JobStatus.succeeded
    assert job.progress == 1.0 and job.message == "step 3/3"
    assert job.result == {"slept": 0.3, "steps": 3}
    assert job.error is None
    assert job.worker_host == socket.gethostname() and job.worker_pid
    assert job.created_at <= job.started_at <= job.finished_at


def test_progress_is_visible_while_running(worker: subprocess.Popen[bytes]) -> None:
    from studio.jobs import enqueue, get_job, wait

    job_id = enqueue(SleepSpec(seconds=2.0, steps=4))
    seen: list[float] = []

    def partial_progress() -> bool:
        job = get_job(job_id)
        if job.status == JobStatus.running and 0 < job.progress < 1:
            seen.append(job.progress)
            return True
        assert job.status in (JobStatus.queued, JobStatus.running), job.error
        return False

    wait_until(partial_progress, 20, "progress between 0 and 1 while running")
    assert get_job(job_id).message.startswith("step ")
    assert wait(job_id, timeout=20).status == JobStatus.succeeded


def test_a_failing_body_is_recorded(worker: subprocess.Popen[bytes]) -> None:
    from studio.jobs import enqueue, wait

    job = wait(enqueue(SleepSpec(seconds=0.2, steps=2, fail=True)), timeout=20)
    assert job.status == JobStatus.failed
    assert job.error == "RuntimeError: failing on purpose at step 2/2 (params fail=true)"
    assert "Traceback" in job.log and "in run" in job.log and "diagnostic.py" in job.log
    assert job.result is None and job.finished_at is not None


def test_list_jobs_newest_first_with_filters(worker: subprocess.Popen[bytes]) -> None:
    from studio.jobs import enqueue, list_jobs, wait

    first = enqueue(SleepSpec(seconds=0, steps=1))
    second = enqueue(SleepSpec(seconds=0, steps=1, fail=True))
    wait(first, timeout=20), wait(second, timeout=20)
    assert [j.id for j in list_jobs()] == [second, first]
    assert [j.id for j in list_jobs(kind="sleep", limit=1)] == [second]
    assert [j.id for j in list_jobs(status=JobStatus.failed)] == [second]
    assert [j.id for j in list_jobs(status="succeeded")] == [first]
    assert list_jobs(kind="export") == []


def test_cancel_a_running_job(worker: subprocess.Popen[bytes]) -> None:
    from studio.jobs import cancel, enqueue, get_job, wait

    job_id = enqueue(LONG)
    wait_until(lambda: get_job(job_id).worker_pid, 20, "the job's child process")
    asked = cancel(job_id)
    assert asked.status == JobStatus.running and asked.cancel_requested
    job = wait(job_id, timeout=5)
    assert job.status == JobStatus.cancelled and job.finished_at is not None


def test_cancel_a_queued_job_and_it_never_runs(worker: subprocess.Popen[bytes]) -> None:
    from studio.jobs import cancel, enqueue, get_job, wait

    blockers = [enqueue(LONG) for _ in range(2)]  # keep both worker threads busy
    wait_until(lambda: all(get_job(b).status == JobStatus.running for b in blockers), 20, "both threads busy")
    job_id = enqueue(SleepSpec(seconds=0, steps=1))
    assert get_job(job_id).status == JobStatus.queued
    assert cancel(job_id).status == JobStatus.cancelled
    for blocker in blockers:
        cancel(blocker)
    assert all(wait(b, timeout=5).status == JobStatus.cancelled for b in blockers)
    time.sleep(1.5)  # the freed threads would have taken the revoked task by now
    job = get_job(job_id)
    assert job.status == JobStatus.cancelled and job.started_at is None and job.worker_pid is None


def test_cancel_a_finished_job_changes_nothing(worker: subprocess.Popen[bytes]) -> None:
    from studio.jobs import cancel, enqueue, wait

    done = wait(enqueue(SleepSpec(seconds=0, steps=1)), timeout=20)
    again = cancel(done.id)
    assert again.status == JobStatus.succeeded and not again.cancel_requested
    assert again.finished_at == done.finished_at


def test_wait_times_out_naming_the_status(worker: subprocess.Popen[bytes]) -> None:
    from studio.jobs import cancel, enqueue, wait

    job_id = enqueue(LONG)
    with pytest.raises(TimeoutError, match=rf"job {job_id} \(sleep\) still (queued|running) after 0.3 s at 0%"):
        wait(job_id, timeout=0.3, poll=0.05)
    cancel(job_id)
    assert wait(job_id, timeout=20).status == JobStatus.cancelled


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("no-such-kind", {}, r"unknown job kind 'no-such-kind'; expected one of: .*export.*import.*sleep"),  # no such kind
        ("sleep", {"seconds": "long"}, r"sleep job field seconds: 'long'; expected a number"),  # typed fields
        ("sleep", {"wait": 1}, r"unknown field\(s\) wait; expected some of seconds, steps, fail"),  # no stray keys
        ("sleep", {"steps": 0}, r"expected seconds >= 0 and steps >= 1"),  # validated values
    ],
)
def test_specs_refuse_bad_params(queue_url: str, kind: str, params: dict, message: str) -> None:
    from studio.jobs import list_jobs, load_spec

    with pytest.raises(InvalidInput, match=message):
        load_spec(kind, params)
    assert list_jobs() == []  # nothing half-written


def test_enqueue_takes_specs_only(queue_url: str) -> None:
    from studio.jobs import enqueue, list_jobs

    with pytest.raises(TypeError, match="enqueue expects a job spec"):
        enqueue({"kind": "sleep"})  # type: ignore[arg-type]
    assert list_jobs() == []


def test_a_spec_round_trips_through_its_params(queue_url: str) -> None:
    from studio.jobs import load_spec
    from studio.jobs.kinds import BenchSpec, TrainSpec
    from studio.training.config import TrainConfig

    spec = TrainSpec(config=TrainConfig(dataset="shelves", dataset_version=3, epochs=2), run_id="r1")
    again = load_spec("train", json.loads(json.dumps(spec.to_params())))
    assert again == spec and again.config.epochs == 2
    bench = BenchSpec(model="m", size=(64, 48))
    assert load_spec("bench", json.loads(json.dumps(bench.to_params()))) == bench  # the tuple comes back a tuple


def test_the_inline_queue_runs_a_job_in_this_process(studio_env: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.jobs import INLINE_URL, enqueue, get_job, job_result

    monkeypatch.setenv("STUDIO_QUEUE_URL", INLINE_URL)
    reset_caches()
    done = get_job(enqueue(SleepSpec(seconds=0, steps=2)))  # has run when enqueue returns
    assert done.status == JobStatus.succeeded and done.worker_host == "inline"
    assert job_result(done, SleepSpec) == SleepResult(slept=0.0, steps=2)
    failed = get_job(enqueue(SleepSpec(seconds=0, steps=2, fail=True)))
    assert failed.status == JobStatus.failed and "failing on purpose" in failed.error


def test_an_unknown_job_is_not_found(queue_url: str) -> None:
    from studio.jobs import cancel, get_job

    with pytest.raises(NotFound, match="no job with id 'nope'"):
        get_job("nope")
    with pytest.raises(NotFound):
        cancel("nope")


def test_list_jobs_refuses_an_unknown_status(queue_url: str) -> None:
    from studio.jobs import list_jobs

    with pytest.raises(InvalidInput, match="unknown job status 'done'; expected one of: queued, running"):
        list_jobs(status="done")


@pytest.mark.parametrize(
    ("url", "storage"),
    [
        ("sqlite:///{tmp}/q/queue.db", "SqliteStorage"),  # the default: a file next to the data
        ("redis://127.0.0.1:6399/2", "PriorityRedisStorage"),  # no connection is made until used; priorities
    ],
)
def test_make_huey_picks_the_storage_by_scheme(tmp_path: Path, url: str, storage: str) -> None:
    from studio.jobs import make_huey
    from studio.jobs.queue import RUN_JOB_TASK

    huey = make_huey(url.format(tmp=tmp_path))
    assert type(huey.storage).__name__ == storage
    assert f"studio.jobs.queue.{RUN_JOB_TASK}" in huey._registry._registry  # the one task, same name everywhere


@pytest.mark.parametrize("url", ["postgresql://db/queue", "queue.db", "sqlite:///:memory:"])
def test_make_huey_refuses_other_urls(url: str) -> None:
    from studio.jobs import make_huey

    with pytest.raises(InvalidInput, match="expected sqlite:///path/to/queue.db"):
        make_huey(url)


def test_progress_writes_are_throttled_but_never_stale(
    studio_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import studio.jobs as jobs
    import studio.jobs.rows as rows
    from studio.db import session_scope
    from studio.jobs.context import PROGRESS_INTERVAL_S
    from studio.tables import Job

    with session_scope() as session:
        session.add(Job(id="j1", kind="sleep", status=JobStatus.running))
    writes: list[dict] = []
    real_update = rows.update_job
    monkeypatch.setattr(rows, "update_job", lambda job_id, **kw: writes.append(kw) or real_update(job_id, **kw))
    ctx = jobs.RowContext("j1")
    for i in range(1, 100):
        ctx.progress(i / 100, f"item {i}")  # a burst: 99 reports in a few milliseconds
    assert len(writes) == 1 and jobs.get_job("j1").message == "item 1"  # the first one at once
    time.sleep(PROGRESS_INTERVAL_S + 0.2)
    assert len(writes) == 2 and jobs.get_job("j1").message == "item 99"  # then the latest, by a timer
    ctx.progress(1.0, "done")
    assert len(writes) == 3 and jobs.get_job("j1").progress == 1.0  # the final one is never held back
    ctx.log("a line")
    ctx.log("another\n")
    assert jobs.get_job("j1").log == "a line\nanother\n"


def test_job_specs_import_without_torch() -> None:
    """Pages and every job's child process import the specs: torch (2 s) only inside run()."""
    done = subprocess.run([sys.executable, "-c", "import sys, backend.child, studio.jobs.kinds; "
                           "print(sorted(m for m in ('torch', 'ultralytics', 'segmentation_models_pytorch') "
                           "if m in sys.modules))"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
