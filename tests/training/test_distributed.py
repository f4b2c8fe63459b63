"""One training run on several processes (studio.training.distributed): each rank's share of a
global batch, and a real 2-process DDP run (torchrun, gloo on CPU) equal to a 1-process run
with the same global batch."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from studio.errors import InvalidInput
from studio.training.config import TrainConfig
from tests.training.test_sequence import _config, _synthetic


@pytest.mark.parametrize(("n", "batch", "world"), [(20, 8, 2), (17, 4, 4), (9, 6, 3)])
def test_ranks_share_every_global_batch_as_one_process_would(n: int, batch: int, world: int) -> None:
    from studio.training.data import EpochShuffle
    from studio.training.distributed import Rank, RankShuffle

    single = [i for _, i in EpochShuffle(n, seed=3, tag_epoch=True)]
    shares = [list(RankShuffle(n, 3, batch, Rank(r, world))) for r in range(world)]
    per = batch // world
    for k in range(n // batch):  # step k: the ranks' slices together are the one-process batch k
        together = [i for r in range(world) for _, i in shares[r][k * per:(k + 1) * per]]
        assert together == single[k * batch:(k + 1) * batch]
    assert all(len(s) == (n // batch) * per for s in shares)  # same number of steps on every rank


@pytest.mark.parametrize(("fields", "message"), [
    ({"gpus": 2, "batch_size": 7}, "a multiple of gpus"),  # the global batch splits evenly
    ({"gpus": 0}, "expected a positive integer"),
    ({"gpus": 2, "task": "instance", "architecture": "yolov8-seg", "backbone": "n"}, "trains on one"),
    ({"gpus": 2, "unfreeze": [[0, "head"]]}, "progressive unfreezing runs on one process"),
])
def test_multi_process_configs_are_checked(fields: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        TrainConfig(**{"task": "classification", "architecture": "resnet18", "batch_size": 8, **fields})


@pytest.mark.slow
def test_two_processes_equal_one_with_the_same_global_batch(studio_env: dict[str, str]) -> None:
    from studio.registry import load_checkpoint
    from studio.training.distributed import launch
    from studio.training.inputs import fix_dataset_version
    from studio.training.run import run_dir_for, run_training

    _synthetic(glosses=4, clips=12)
    config = fix_dataset_version(_config("sign_gru", "signs", epochs=2, batch_size=8))
    run_training(config, "one", register=False)
    logged: list[str] = []
    outcome = launch(dataclasses.replace(config, gpus=2), "two", job_id=None, attempt=None,
                     should_stop=lambda: False, log=logged.append)
    assert outcome["world"] == 2 and outcome["epochs"] == 2 and outcome["model"]  # rank 0 registered it
    one = load_checkpoint(run_dir_for("one") / "last.pt")["model"]
    two = load_checkpoint(run_dir_for("two") / "last.pt")["model"]
    assert one.keys() == two.keys()
    worst = max(float((one[k] - two[k]).abs().max()) for k in one)
    assert worst < 1e-5, f"2 processes differ from 1 by {worst}"  # stated tolerance: float summation order
    assert not torch.equal(one["heads.gloss.weight"], torch.zeros_like(one["heads.gloss.weight"]))


@pytest.mark.slow
def test_a_multi_process_run_is_a_job_like_any_other(start_worker) -> None:  # noqa: ANN001
    from studio.jobs import enqueue, get_job, job_result, wait
    from studio.jobs.kinds import TrainSpec
    from studio.training.history import epoch_rows

    _synthetic(glosses=4, clips=12)
    start_worker()
    job_id = enqueue(TrainSpec(config=_config("sign_gru", "signs", epochs=2, batch_size=8, gpus=2)))
    assert get_job(job_id).lane == "multi"
    job = wait(job_id, timeout=300)
    assert job.status == "succeeded", job.error or job.log[-3000:]
    outcome = job_result(job, TrainSpec)
    assert outcome.model and outcome.epochs == 2
    assert [r["epoch"] for r in epoch_rows(job_id)] == [1, 2]  # rank 0 reported each epoch to the job
    assert "2 processes (DDP)" in job.log
