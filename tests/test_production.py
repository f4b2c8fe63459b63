"""Production slots and the A/B gate (studio.production) on real versions, evaluations and
benchmark rows; the CLI's promote / production / gate (exit status 1 when the gate fails)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from studio.errors import InvalidInput
from tests.test_inference import make_dataset, unet_version, yolo_version

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def setup(module_studio: Path) -> dict[str, Any]:
    from studio.evaluation.run import evaluate_version

    dv = make_dataset(module_studio, n_images=6)
    a, b = unet_version(module_studio, dv, seed=0), unet_version(module_studio, dv, seed=1)
    evals = {"a": evaluate_version(a.id, save_predictions=False), "b": evaluate_version(b.id, save_predictions=False)}
    return {"dv": dv, "a": a, "b": b, "evals": evals, "yolo": yolo_version(module_studio, dv)}


def _benchmark(version: Any, ms: float, size: str = "64x64") -> None:
    from studio.db import session_scope
    from studio.tables import ModelBenchmark

    with session_scope() as session:
        session.add(ModelBenchmark(model_version_id=version.id, runtime="torch", device="cpu (2 threads)",
                                   input_size=size, latency_mean_ms=ms, fps=1000 / ms))


def _miou(eval_id: int) -> float:
    from studio.evaluation.views import get_evaluation

    return float(get_evaluation(eval_id).summary["miou"])


def test_promote_one_version_per_dataset_and_task_with_history(setup: dict[str, Any]) -> None:
    from studio.production import production_slots, production_version, promote, promotions_of, replaced_by

    first = promote(setup["a"].name)
    assert (first.dataset, first.task, first.replaced) == ("shelves", "semantic", "")
    assert promote(setup["a"].name).replaced == ""  # promoting it again changes nothing
    second = promote(setup["b"].id, note="better on boxes")
    assert second.replaced == setup["a"].name
    assert second.line() == f"{setup['b'].name} is now in production for shelves / semantic (replacing {setup['a'].name})"
    assert production_version("shelves", "semantic").id == setup["b"].id
    assert [(s.dataset, s.task, s.model) for s in production_slots()] == [("shelves", "semantic", setup["b"].name)]
    assert [p.note for p in promotions_of(setup["b"])] == ["better on boxes"]
    assert [p.model_version_id for p in replaced_by(setup["a"])] == [setup["b"].id]
    promote(setup["a"].name)  # back: the gate tests below take a as production


def test_promoting_a_version_of_another_task_is_refused(setup: dict[str, Any]) -> None:
    from studio.production import production_slots, promote

    before = production_slots()
    with pytest.raises(InvalidInput, match=r"is a semantic model; the production slot for instance models takes "
                                           r"instance versions only"):
        promote(setup["a"].name, task="instance")
    with pytest.raises(InvalidInput, match=r"task 'detection': expected one of"):
        promote(setup["a"].name, task="detection")
    with pytest.raises(InvalidInput, match=r"predicts classes \['bottle', 'box', .*\] that dataset 'empty' does not have"):
        from studio.db import session_scope
        from studio.tables import Dataset

        with session_scope() as session:
            session.add(Dataset(name="empty"))
        promote(setup["a"].name, dataset="empty")
    assert production_slots() == before  # nothing written
    assert promote(setup["yolo"].name).task == "instance"  # its own slot beside the semantic one


def test_gate_on_a_split_never_evaluated_says_evaluate_first(setup: dict[str, Any]) -> None:
    from studio.production import gate

    with pytest.raises(InvalidInput) as refused:
        gate(setup["b"].name, split="test")
    assert str(refused.value) == (f"{setup['b'].name} was never evaluated on split 'test'; evaluate first: "
                                  f"`studio evaluate {setup['b'].name} --split test --wait`")
    with pytest.raises(InvalidInput, match="is the production version of shelves / semantic"):
        gate(setup["a"].name)
    with pytest.raises(InvalidInput, match="expected max_drop >= 0"):
        gate(setup["b"].name, max_drop=-1)


def test_gate_production_not_evaluated_on_the_candidates_data(setup: dict[str, Any], module_studio: Path) -> None:
    from studio.evaluation.run import evaluate_version
    from studio.production import gate

    evaluate_version(setup["b"].id, split="train", save_predictions=False)
    with pytest.raises(InvalidInput) as refused:
        gate(setup["b"].name, split="train")
    assert f"production version {setup['a'].name} has no evaluation on shelves (data v1) train" in str(refused.value)
    assert f"`studio evaluate {setup['a'].name} --split train --dataset-version {setup['dv']} --wait`" in \
        str(refused.value)


def test_gate_metric_and_latency_limits(setup: dict[str, Any]) -> None:
    from studio.production import gate

    a, b = _miou(setup["evals"]["a"]), _miou(setup["evals"]["b"])
    drop = a - b  # what the candidate b loses against production a (negative: it gains)
    no_benchmarks = gate(setup["b"].name, max_drop=max(drop, 0) + 0.001, max_latency=1000)
    assert no_benchmarks.latency_source.startswith("median model time per image in the two evaluations")
    _benchmark(setup["a"], 100.0)
    _benchmark(setup["b"], 108.0)
    passed = gate(setup["b"].name, max_drop=max(drop, 0) + 0.001, max_latency=10)
    assert passed.passed and passed.reasons == []
    assert (passed.candidate_value, passed.production_value) == (pytest.approx(b), pytest.approx(a))
    assert (passed.candidate_ms, passed.production_ms) == (108.0, 100.0)
    assert passed.latency_source == "benchmarks: torch on cpu (2 threads), batch 1 at 64x64"
    assert passed.data == "shelves (data v1) val"
    slow = gate(setup["b"].name, max_drop=max(drop, 0) + 0.001, max_latency=5)
    assert not slow.passed and slow.reasons == [
        "108.0 ms vs 100.0 ms in production (+8.0 %; at most +5 % allowed; benchmarks: torch on cpu (2 threads), "
        "batch 1 at 64x64)"]
    if drop > 0:  # random weights: b may be worse or better; a negative limit is refused, so test the worse case
        worse = gate(setup["b"].name, max_drop=drop / 2, max_latency=10)
        assert not worse.passed and worse.reasons[0].startswith(f"mIoU {b:.4f} vs {a:.4f} in production")
    lines = slow.lines()
    assert lines[0] == f"gate FAILED: {setup['b'].name} against production {setup['a'].name} on shelves (data v1) val"
    assert lines[2].startswith("  FAIL latency: ")


def test_cli_promote_production_and_gate_exit_status(setup: dict[str, Any]) -> None:
    from studio.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["models", "production"])
    assert listed.exit_code == 0 and f"shelves          semantic        {setup['a'].name}" in listed.stdout
    failed = runner.invoke(app, ["models", "gate", setup["b"].name, "--max-drop", "1", "--max-latency", "1"])
    assert failed.exit_code == 1, failed.output
    assert "gate FAILED" in failed.stdout and "FAIL latency: 108.0 ms vs 100.0 ms" in failed.stdout
    passed = runner.invoke(app, ["models", "gate", setup["b"].name, "--max-drop", "1", "--max-latency", "50"])
    assert passed.exit_code == 0 and "gate PASSED" in passed.stdout, passed.output
    never = runner.invoke(app, ["models", "gate", setup["b"].name, "--split", "test"])
    assert never.exit_code == 1 and "evaluate first" in str(never.exception)  # `studio` prints it as one line
    wrong = runner.invoke(app, ["models", "promote", setup["b"].name, "--task", "instance"])
    assert wrong.exit_code == 1 and "takes instance versions only" in str(wrong.exception)
