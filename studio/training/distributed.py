"""One training run on several processes: PyTorch DDP, launched with torchrun.

``TrainConfig.gpus > 1`` makes ``TrainSpec.run`` call :func:`launch`, which starts
``torchrun --standalone --nproc_per_node=N -m studio.training.distributed ...`` in the job's
process group (a cancel stops them all). Every rank runs :func:`studio.training.run.run_training`
on the same run folder; the loop (``studio.training.loop``) sees :func:`current` and

- wraps the model in ``DistributedDataParallel`` (gradients averaged over the ranks),
- gives each rank its contiguous slice of every global batch (:class:`RankShuffle`): rank r of
  W takes items ``[k*B + r*B/W, k*B + (r+1)*B/W)`` of the epoch's permutation, so a step sees
  exactly the samples a one-process run with batch ``B`` sees in its step ``k``,
- lets rank 0 alone evaluate, write ``training_log.csv`` / ``last.pt`` / ``best.pt``, report
  progress to the job and register the version; rank 0's decision to stop early is broadcast.

On CUDA each rank uses ``cuda:LOCAL_RANK`` with NCCL; without GPUs the ranks are CPU processes
with gloo (how the tests prove a 2-process run equals a 1-process run with the same global batch).
Rank 0 writes ``ddp_outcome.json`` in the run folder for the launching job to read.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from studio.errors import InvalidInput, StudioError

OUTCOME_FILE = "ddp_outcome.json"
POLL_S = 0.2


@dataclass(frozen=True)
class Rank:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def current() -> Rank:
    """This process's place in the run (0 of 1 when not distributed)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return Rank()
    return Rank(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def per_rank_batch(batch_size: int, world: int) -> int:
    """The batch of one rank for a global ``batch_size``; InvalidInput unless it divides."""
    if batch_size % world:
        raise InvalidInput(f"config batch_size {batch_size} is the global batch of {world} processes: expected a "
                           f"multiple of gpus ({world})")
    return batch_size // world


class RankShuffle:
    """A sampler of ``(epoch, index)`` pairs (as ``data.EpochShuffle(tag_epoch=True)``) giving
    this rank its contiguous share of every global batch of the epoch's permutation; only full
    global batches are used, so every rank takes the same number of steps."""

    def __init__(self, n: int, seed: int, global_batch: int, rank: Rank) -> None:
        self.n, self.seed, self.global_batch, self.rank, self.epoch = n, seed, global_batch, rank, 0
        self.share = per_rank_batch(global_batch, rank.world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist()
        start = self.rank.rank * self.share
        first = [k * self.global_batch + start for k in range(self.n // self.global_batch)]
        mine = [i for f in first for i in order[f:f + self.share]]
        return iter([(self.epoch, i) for i in mine])

    def __len__(self) -> int:
        return (self.n // self.global_batch) * self.share


def stop_agreed(stop: bool) -> bool:
    """Rank 0's ``stop`` on every rank (a collective: all ranks call it once per epoch)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return stop
    flag = [stop]
    dist.broadcast_object_list(flag, src=0)
    return bool(flag[0])


# ---- launching ---------------------------------------------------------------------------


def launch(config: Any, run_id: str, *, job_id: str | None, attempt: int | None,
           should_stop: Callable[[], bool], log: Callable[[str], None]) -> dict[str, Any]:
    """Run ``config`` on ``config.gpus`` processes (torchrun) and wait; rank 0's outcome
    (``ddp_outcome.json``). StudioError naming the failing rank's last lines when it fails."""
    import socket

    from studio.training.run import run_dir_for

    run_dir = run_dir_for(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / OUTCOME_FILE).unlink(missing_ok=True)
    config_file = run_dir / "ddp_config.json"
    config_file.write_text(json.dumps(config.to_dict()))
    with socket.socket() as s:  # --standalone picks a port itself; a fixed free one keeps parallel runs apart
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={config.gpus}",
               "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", "--master_addr=127.0.0.1",
               "-m", "studio.training.distributed", "--run-id", run_id, "--config", str(config_file)]
    if job_id:
        command += ["--job-id", job_id] + (["--attempt", str(attempt)] if attempt is not None else [])
    log_file = run_dir / "ddp.log"
    log(f"launching {config.gpus} processes (torchrun, DDP); their output: {log_file}")
    with log_file.open("ab") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        try:
            while True:
                try:
                    code = process.wait(timeout=POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    if should_stop():
                        os.killpg(process.pid, signal.SIGTERM)
                        try:
                            process.wait(timeout=10)
                        except subprocess.TimeoutExpired:
                            os.killpg(process.pid, signal.SIGKILL)
                            process.wait()
                        from studio.training.loop import Cancelled

                        raise Cancelled("stopped: the distributed run was asked to stop")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    outcome = run_dir / OUTCOME_FILE
    if code != 0 or not outcome.is_file():
        tail = log_file.read_text(errors="replace").splitlines()[-15:]
        raise StudioError(f"the distributed run ({config.gpus} processes) exited with code {code}; last lines of "
                          f"{log_file}:\n" + "\n".join(tail))
    return json.loads(outcome.read_text())


def _main(argv: list[str] | None = None) -> NoReturn:
    """One rank (what torchrun starts): join the group, train, rank 0 reports and registers;
    the process ends here (:func:`_exit`)."""
    import torch
    import torch.distributed as dist

    from studio.training.config import TrainConfig
    from studio.training.loop import TrainHooks
    from studio.training.run import run_training

    parser = argparse.ArgumentParser(prog="python -m studio.training.distributed")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--job-id")
    parser.add_argument("--attempt", type=int)
    args = parser.parse_args(argv)
    config = TrainConfig.from_dict(json.loads(Path(args.config).read_text()))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and config.device in ("auto", "cuda") or config.device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(local_rank)
        config.device = f"cuda:{local_rank}"
    else:
        config.device = "cpu"
    dist.init_process_group("nccl" if cuda else "gloo")
    rank = current()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    hooks = TrainHooks(should_stop=lambda: stop["now"])
    if rank.main and args.job_id:
        from studio.jobs.context import RowContext
        from studio.training.history import record_epoch

        ctx = RowContext(args.job_id, attempt=args.attempt)
        hooks = TrainHooks(progress=ctx.progress, should_stop=lambda: stop["now"], log=ctx.log,
                           on_epoch=lambda r: record_epoch(args.job_id, r.epoch, train_loss=r.train_loss,
                                                           val_loss=r.val_loss, lr=r.lr, metrics=r.metrics,
                                                           seconds=r.seconds))
    try:
        outcome = run_training(config, args.run_id, hooks, job_id=args.job_id, register=rank.main)
        if rank.main:
            _write_outcome(args.run_id, outcome, rank)
        dist.barrier()  # no rank leaves while another still talks to it (rank 0 registers the version)
        dist.destroy_process_group()
    except BaseException:
        # a failing rank leaves at once: torchrun stops the others
        _exit(1, traceback=True)
    _exit(0)


def _write_outcome(run_id: str, outcome: Any, rank: Rank) -> None:
    """Rank 0's ``ddp_outcome.json`` (temp file + rename) for the launching job."""
    from studio.training.run import run_dir_for

    version, result = outcome.version, outcome.result
    payload = {"model": version.name if version else None, "model_id": version.id if version else None,
               "best_metric": result.best_metric, "best_epoch": result.best_epoch,
               "epochs": result.epochs_run, "resumed_from": result.resumed_from,
               "stopped_early": result.stopped_early, "world": rank.world}
    target = run_dir_for(run_id) / OUTCOME_FILE
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(target)


def _exit(code: int, *, traceback: bool = False) -> NoReturn:
    """End the rank now, skipping the interpreter's teardown: with gloo, a C++ thread still
    joinable at static destruction aborted a finished rank now and then ("terminate called
    without an active exception", SIGABRT), which torchrun reports as a failed run."""
    if traceback:
        import traceback as tb

        tb.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

if __name__ == "__main__":
    _main()
