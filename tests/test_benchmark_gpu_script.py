"""benchmarks/gpu.py without a GPU: with no time left every section is skipped with a row that
says so, and the table and the rows are written (what the GPU machine's call brings back)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import gpu


def test_a_spent_budget_skips_every_section_and_still_writes_the_table(studio_env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "out" / "gpu_figures.md"
    lines: list[str] = []
    rows = gpu.run(out, budget=0.0, device="cpu", log=lines.append)
    names = [r["row"] for r in rows]
    assert names == [n for section in gpu.SECTIONS for n in gpu.SECTION_ROWS[section]]
    assert all(r["value"] is None and r["note"].startswith("skipped: ") for r in rows)
    table = out.read_text()
    assert table.startswith("GPU figures: cpu") and "| path | variant | figure | notes |" in table
    assert table.index("SAM vit_b") < table.index("UNet-r34 512") < table.index("Live page") < table.index("training")
    assert table.count("not measured") == len(rows)
    assert json.loads(out.with_suffix(".json").read_text()) == rows


def test_rows_are_ordered_as_the_issue_lists_them() -> None:
    rows = [gpu.row("training UNet-r34 512", "step alone", 570.0, "img/s", "cuda"),
            gpu.row("UNet-r34 512, batch 1", "studio compiled", 1052.0, "img/s", "cuda", "a | b"),
            gpu.row("SAM vit_h embedding, batch 8", "studio", 30.7, "ms/img", "cuda"),
            gpu.row("something new", "x", None, "", "cuda", "not measured: why")]
    table = gpu.markdown(rows, "header")
    body = [line for line in table.splitlines() if line.startswith("| ") and "path" not in line]
    assert [b.split(" | ")[0][2:] for b in body] == ["SAM vit_h embedding, batch 8", "UNet-r34 512, batch 1",
                                                      "training UNet-r34 512", "something new"]
    assert "1052.0 img/s" in body[1] and "a / b" in body[1] and "| not measured |" in body[3]
