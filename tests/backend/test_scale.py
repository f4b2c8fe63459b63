"""The scaled-out studio for real: PostgreSQL + Redis + three worker processes + the app.
200 mixed jobs; one worker's machine is lost (SIGKILL of the worker and its job processes, so
no watchdog survives) and the web process is restarted mid-run. Every job ends exactly once,
none is left running, the deliberate failures (and only they) fail, and each training /
evaluation job wrote exactly one model version / evaluation.

Always on PostgreSQL and Redis, whatever the pass of the suite (so it is not marked ``db``:
the PostgreSQL pass would only run it twice)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from studio.config import folder_env
from studio.tables import JobStatus
from tests import postgres
from tests.e2e.conftest import _free_port, _wait_http
from tests.test_jobs import redis_url  # noqa: F401  (fixture: a throw-away redis-server)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
N_SLEEP, N_FAIL, N_IMPORT, N_EXPORT, N_EVAL, N_TRAIN = 150, 10, 16, 14, 6, 4  # 200 jobs


@pytest.fixture
def scaled_studio(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:  # noqa: F811
    """This process pointed at a fresh PostgreSQL database and an emptied Redis queue."""
    import redis

    from tests.conftest import reset_studio_caches

    try:
        db_url = postgres.server().database(tmp_path, migrated=True)
    except postgres.NotInstalled as exc:
        pytest.skip(str(exc))
    redis.Redis.from_url(redis_url).flushdb()
    env = {**folder_env(tmp_path), "STUDIO_DB_URL": db_url, "STUDIO_QUEUE_URL": redis_url,
           "STUDIO_WORKER_TIMEOUT_S": "6"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_studio_caches()
    yield env
    reset_studio_caches()


def _photos(folder: Path, seed: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (32, 48, 3), np.uint8)).save(folder / f"p{i}.png")
    return folder


def _family(pid: int) -> list[int]:
    try:
        return [pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def test_200_jobs_on_three_workers_survive_a_lost_machine_and_a_web_restart(scaled_studio: dict[str, str],
                                                                         tmp_path: Path) -> None:
    from sqlmodel import col, func, select

    from backend.worker import spawn_worker
    from studio.db import session_scope
    from studio.jobs import enqueue, list_jobs
    from studio.jobs.kinds import EvaluateSpec, ExportSpec, ImportSpec, SleepSpec, TrainSpec
    from studio.tables import Evaluation, ModelVersion, Worker
    from studio.training.config import TrainConfig
    from tests.test_inference import make_dataset, unet_version

    dv = make_dataset(tmp_path, n_images=4)
    model = unet_version(tmp_path, dv)
    rng = np.random.default_rng(0)
    specs = [SleepSpec(seconds=float(rng.uniform(0, 0.4)), steps=2) for _ in range(N_SLEEP)]
    specs += [SleepSpec(seconds=0.1, steps=2, fail=True) for _ in range(N_FAIL)]
    specs += [ImportSpec(format="images", source=_photos(tmp_path / f"in{i}", i), dataset=f"imported{i}")
              for i in range(N_IMPORT)]
    specs += [ExportSpec(format="coco", dataset="shelves", out=tmp_path / f"out{i}") for i in range(N_EXPORT)]
    specs += [EvaluateSpec(model=model.name, split="train", save_predictions=False) for _ in range(N_EVAL)]
    specs += [TrainSpec(config=TrainConfig(architecture="unet", backbone="resnet18", dataset="shelves",
                                           dataset_version=1, epochs=3, image_size=64, batch_size=2, num_workers=0,
                                           augment={}))
              for _ in range(N_TRAIN)]
    assert len(specs) == 200
    order = rng.permutation(len(specs))
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, **scaled_studio}
    workers = [spawn_worker(2, env=env, log_file=logs / f"worker{i}.log") for i in range(3)]
    port = _free_port()
    serve = [sys.executable, "-m", "studio.cli", "serve", "--port", str(port)]
    web = subprocess.Popen(serve, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                           start_new_session=True)
    started = time.monotonic()
    try:
        ids = [enqueue(specs[i]) for i in order[:120]]
        deadline = time.monotonic() + 300
        victim = None  # the worker of a running training job: its machine is lost, with everything it started
        while victim is None:
            assert time.monotonic() < deadline, "the workers did not get going"
            time.sleep(0.5)
            jobs = list_jobs(limit=300)
            if sum(JobStatus(j.status).finished for j in jobs) < 40:
                continue
            busy = {j.worker_id for j in jobs if j.kind == "train" and j.status == "running" and j.worker_pid}
            with session_scope() as session:
                pids = set(session.exec(select(Worker.pid).where(col(Worker.id).in_(busy))).all()) if busy else set()
            victim = next((w for w in workers if w.pid in pids), None)
        for pid in _family(victim.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        victim.wait()
        os.killpg(web.pid, signal.SIGTERM)  # and the web process restarts
        web.wait(30)
        web = subprocess.Popen(serve, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
        _wait_http(f"http://127.0.0.1:{port}", web)
        ids += [enqueue(specs[i]) for i in order[120:]]
        deadline = time.monotonic() + 1200
        last_report = 0.0
        while True:
            jobs = {j.id: j for j in list_jobs(limit=500)}
            if all(JobStatus(jobs[i].status).finished for i in ids):
                break
            if time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                print(f"{time.monotonic() - started:.0f} s: {dict(Counter(j.status for j in jobs.values()))}",
                      flush=True)
            if time.monotonic() > deadline:
                stuck = Counter((j.kind, j.status) for j in jobs.values() if not JobStatus(j.status).finished)
                pytest.fail(f"jobs still unfinished after 20 minutes: {dict(stuck)}")
            time.sleep(1)
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        try:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(web.pid, signal.SIGKILL)
    seconds = time.monotonic() - started
    jobs = {j.id: j for j in list_jobs(limit=500)}
    kinds = {i: specs[k] for i, k in zip(ids, order)}
    failed = {i for i in ids if jobs[i].status == JobStatus.failed.value}
    deliberate = {i for i, spec in kinds.items() if isinstance(spec, SleepSpec) and spec.fail}
    assert failed == deliberate, {i: jobs[i].error for i in failed - deliberate}
    assert all(jobs[i].status == JobStatus.succeeded.value for i in set(ids) - deliberate)
    assert max(jobs[i].attempts for i in ids) <= 3
    requeued = [i for i in ids if jobs[i].attempts > 1]
    assert requeued, "no job was running on the lost machine"
    with session_scope() as session:
        versions = Counter(session.exec(select(ModelVersion.job_id).where(ModelVersion.job_id.is_not(None))).all())
        evaluations = Counter(session.exec(select(Evaluation.job_id).where(Evaluation.job_id.is_not(None))).all())
        assert session.exec(select(func.count()).select_from(ModelVersion)).one() == 1 + N_TRAIN  # + the fixture's
    train_ids = [i for i, spec in kinds.items() if isinstance(spec, TrainSpec)]
    eval_ids = [i for i, spec in kinds.items() if isinstance(spec, EvaluateSpec)]
    assert all(versions[i] == 1 for i in train_ids) and all(evaluations[i] == 1 for i in eval_ids)
    print(f"200 jobs in {seconds:.0f} s; {len(requeued)} requeued after the lost machine "
          f"({Counter(type(kinds[i]).__name__ for i in requeued)})")
