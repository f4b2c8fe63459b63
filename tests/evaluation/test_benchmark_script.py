"""The benchmark script still runs (tiny sizes) and checks itself against torchmetrics."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "evaluation.py"


def test_benchmark_script_runs_small(capsys) -> None:  # noqa: ANN001
    spec = importlib.util.spec_from_file_location("benchmark_evaluation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.run(images=3, size=40, classes=5, repeat=1, skip_torchmetrics=False)
    labels = [label for label, _ in rows]
    assert len(rows) == 4 and any("torchmetrics" in label for label in labels)  # it asserts equality inside
    assert all(seconds > 0 for _, seconds in rows)
    assert "Mpx/s" in capsys.readouterr().out
