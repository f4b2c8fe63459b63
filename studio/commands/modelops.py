"""Commands of the model-ops feature: evaluate, evaluations, compare, export onnx | torchscript,
bench, prelabel.

Where the work runs (one convention for all):

- ``studio evaluate``, ``studio bench`` and ``studio prelabel`` are long work: by default they
  queue a job for the worker and print its id (``studio jobs show ID``); ``--wait`` also
  follows it and prints its result; ``--here`` runs it in this terminal, with a progress bar
  (``studio.commands.common.run_or_queue``, the convention of every job command).
- ``studio export onnx|torchscript`` and ``studio compare`` run here (short, and their output
  is what the user is waiting for). ``studio compare`` evaluates a version that has no
  evaluation on the split first, in this process.
- ``studio export int8`` (job "quantize": calibrate, evaluate fp32 and INT8, time both) runs
  here by default, since its verdict is what the user waits for; ``--queue`` / ``--wait`` hand
  it to the worker.

Failures print one line (``studio: <reason>``) and exit with status 1 (``studio.cli.main``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from studio.commands.common import (HereOpt, QueueOpt, TimeoutOpt, WaitOpt, ensure_db, print_json, run_or_queue,
                                    tqdm_progress)

ModelArg = Annotated[str, typer.Argument(help="model version name or id (see `studio models list`)")]
RuntimeOpt = Annotated[str, typer.Option(help="torch, onnx (needs `studio export onnx MODEL` first) or onnx_int8 "
                                              "(needs `studio export int8 MODEL`)")]
DeviceOpt = Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:N; default STUDIO_DEVICE (auto)")]


def _print_summary(summary: dict[str, Any]) -> None:
    for key, value in summary.items():
        typer.echo(f"  {key:16} {value:.4f}" if isinstance(value, float) else f"  {key:16} {value}")


def evaluate(model: ModelArg,
             split: Annotated[str, typer.Option(help="split of the dataset version")] = "val",
             dataset_version: Annotated[Optional[int], typer.Option(
                 "--dataset-version", help="dataset version id (default: the one the model was trained on)")] = None,
             runtime: RuntimeOpt = "torch", device: DeviceOpt = None, here: HereOpt = False, queue: QueueOpt = False,
             wait: WaitOpt = False, timeout: TimeoutOpt = 3600.0) -> None:
    """Score a model version on a split: mIoU / AP / accuracy, per class, per image (queued by default)."""
    from studio.jobs.kinds import EvaluateResult, EvaluateSpec

    ensure_db()

    def show(result: EvaluateResult) -> None:
        typer.echo(f"evaluation {result.evaluation_id} of {result.model} ({result.image_count} images):")
        _print_summary(result.summary)
        typer.echo(f"  files in {result.folder}")

    spec = EvaluateSpec(model=model, split=split, dataset_version=dataset_version, runtime=runtime,  # type: ignore[arg-type]
                        device=device)
    run_or_queue(spec, here=here, queue=queue, wait=wait, default="queue", show=show, timeout=timeout)


def evaluations(model: Annotated[Optional[str], typer.Argument(help="only this model version")] = None) -> None:
    """List evaluations, newest first."""
    from studio.evaluation.views import list_evaluations

    ensure_db()
    for e in list_evaluations(model):
        headline = next((f"{k} {e.summary[k]:.4f}" for k in ("miou", "ap", "accuracy")
                         if isinstance(e.summary.get(k), float)), "")
        typer.echo(f"{e.id:5}  {e.created}  {e.model}  {e.dataset} {e.split}  {e.image_count} images  {headline}")


class _ListByDefault(TyperGroup):
    """``studio evaluations [MODEL]`` lists (the command ``list``); ``studio evaluations report ...``
    runs the sub-command: a first word that is no sub-command is the MODEL of ``list``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


def evaluation_report(evaluation_id: Annotated[int, typer.Argument(help="evaluation id (see `studio evaluations`)")],
                      out: Annotated[Path, typer.Argument(help="the .html file to write")],
                      force: Annotated[bool, typer.Option("--force", help="replace an existing file")] = False) -> None:
    """Write a self-contained HTML report of an evaluation (plots and images inline; opens offline)."""
    from studio.evaluation.report import write_report

    ensure_db()
    path = write_report(evaluation_id, out, force=force)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): opens in any browser, with no network")


def compare(a: Annotated[str, typer.Argument(help="version A (the baseline)")],
            b: Annotated[str, typer.Argument(help="version B (deltas are B - A)")],
            split: Annotated[str, typer.Option(help="split of the dataset version")] = "val",
            dataset_version: Annotated[Optional[int], typer.Option("--dataset-version",
                                                                   help="default: A's training dataset version")] = None,
            top: Annotated[int, typer.Option(help="images to list, most disagreement first")] = 10,
            as_json: Annotated[bool, typer.Option("--json", help="print everything as JSON")] = False) -> None:
    """Metric and per-class deltas of B against A, and the images where they disagree most (runs here)."""
    from studio.evaluation.compare import compare_versions

    ensure_db()
    with tqdm_progress("compare") as progress:
        result = compare_versions(a, b, dataset_version, split, progress=progress)
    if as_json:
        print_json({"a": result.a.name, "b": result.b.name, "dataset_version_id": result.dataset_version_id,
                    "split": split, "metrics": result.metric_rows(), "classes": result.class_rows(),
                    "images": result.image_rows()[:top]})
        return
    typer.echo(f"A = {result.a.name}\nB = {result.b.name}\non dataset version {result.dataset_version_id} {split}")
    typer.echo(f"{'metric':18}{'A':>10}{'B':>10}{'B - A':>10}")
    for m in result.metrics:
        flag = "  better" if m.improved else "  worse" if m.regressed else ""
        cells = [f"{v:10.4f}" if v is not None else f"{'n/a':>10}" for v in (m.a, m.b)]
        delta = f"{m.delta:+10.4f}" if m.delta is not None else f"{'n/a':>10}"
        typer.echo(f"{m.metric:18}{cells[0]}{cells[1]}{delta}{flag}")
    typer.echo("per class " + ("F1" if result.a.task == "classification" else "IoU") + ":")
    for c in result.classes:
        typer.echo(f"  {c.name:16}" + (f"{c.delta:+.4f}" if c.delta is not None else "n/a"))
    typer.echo(f"most disagreement (of {len(result.images)}):")
    for i in result.images[:top]:
        typer.echo(f"  {i.disagreement:7.2%}  {i.file_name}")


def export_onnx(model: ModelArg,
                out: Annotated[Optional[Path], typer.Option(help="file to write (default: model.onnx in the model's "
                                                            "folder, recorded on the version)")] = None,
                opset: Annotated[int, typer.Option(help="ONNX opset")] = 17,
                static: Annotated[bool, typer.Option("--static", help="fixed input size (no dynamic axes)")] = False,
                check: Annotated[bool, typer.Option(help="compare with PyTorch before keeping it")] = True,
                force: Annotated[bool, typer.Option("--force", help="replace an existing --out file")] = False) -> None:
    """Export a model version to ONNX (dynamic batch and H/W), parity-checked against PyTorch."""
    from studio.exporting import export_onnx as run

    ensure_db()
    _show_export(run(model, out, opset=opset, dynamic=not static, check=check, force=force))


def export_torchscript(model: ModelArg,
                       out: Annotated[Optional[Path], typer.Option(help="file to write (default: model.torchscript.pt "
                                                                   "in the model's folder)")] = None,
                       force: Annotated[bool, typer.Option("--force", help="replace an existing --out file")] = False
                       ) -> None:
    """Export a model version to TorchScript (torch.jit.trace), parity-checked against PyTorch."""
    from studio.exporting import export_torchscript as run

    ensure_db()
    _show_export(run(model, out, force=force))


def _show_export(report: Any) -> None:
    check = (f"max |diff| vs PyTorch {report.max_abs_diff:.3g} (tolerance {report.tolerance:.3g}) on "
             + ", ".join("x".join(map(str, s)) for s in report.sizes_checked)) \
        if report.max_abs_diff == report.max_abs_diff else "not checked"
    typer.echo(f"wrote {report.path} in {report.seconds:.1f} s; {check}"
               + ("; recorded on the version" if report.registered else ""))


def export_int8(model: ModelArg,
                calibration: Annotated[int, typer.Option(help="train images that calibrate the activation ranges")] = 64,
                max_drop: Annotated[float, typer.Option(help="refuse when mIoU / AP / accuracy drops by more than this "
                                                        "(0.01 = one point)")] = 0.01,
                split: Annotated[str, typer.Option(help="split both files are evaluated on")] = "val",
                dataset_version: Annotated[Optional[int], typer.Option(
                    "--dataset-version", help="dataset version id (default: the one the model was trained on)")] = None,
                device: Annotated[Optional[str], typer.Option(help="where onnxruntime runs both (default cpu)")] = "cpu",
                here: HereOpt = False, queue: QueueOpt = False, wait: WaitOpt = False,
                timeout: TimeoutOpt = 3600.0) -> None:
    """INT8 ONNX export (static quantization calibrated on the version's train images); kept only
    when the accuracy drop stays within --max-drop; accuracy and speed change reported."""
    from studio.jobs.kinds import QuantizeSpec
    from studio.quantize import QuantizeReport

    ensure_db()

    def show(report: QuantizeReport) -> None:
        for line in report.lines():
            typer.echo(line)
        typer.echo(f"kept {report.path} (runtime onnx_int8), recorded on the version")

    spec = QuantizeSpec(model=model, calibration=calibration, max_drop=max_drop, split=split,
                        dataset_version=dataset_version, device=device)
    run_or_queue(spec, here=here, queue=queue, wait=wait, default="here", show=show, timeout=timeout)


def bench(model: ModelArg, runtime: RuntimeOpt = "torch",
          compile: Annotated[Optional[bool], typer.Option(
              "--compile/--eager", help="torch runtime compiled or eager (default STUDIO_COMPILE: compiled on "
              "CUDA)")] = None,
          batch_size: Annotated[int, typer.Option(help="images per forward pass")] = 1,
          size: Annotated[Optional[int], typer.Option(
              help="square input side (default: the version's training size; without one 512 / 640 / 224 by task)")
          ] = None,
          warmup: Annotated[int, typer.Option(help="untimed passes first")] = 3,
          iters: Annotated[int, typer.Option(help="timed passes")] = 20,
          device: DeviceOpt = None, here: HereOpt = False, queue: QueueOpt = False, wait: WaitOpt = False,
          timeout: TimeoutOpt = 1800.0) -> None:
    """Time a model version's forward pass (latency, FPS, peak memory) and store it (queued by default)."""
    from studio.jobs.kinds import BenchOutcome, BenchSpec

    ensure_db()

    def show(outcome: BenchOutcome) -> None:
        r = outcome.result
        memory = f", peak memory +{r.peak_memory_mb:.0f} MB" if r.peak_memory_mb is not None else ""
        typer.echo(f"{r.model} {r.runtime} ({r.provider}) on {r.device}, batch {r.batch_size} at "
                   f"{'x'.join(map(str, r.size))}: {r.latency_mean_ms:.1f} ± {r.latency_std_ms:.1f} ms "
                   f"(p95 {r.latency_p95_ms:.1f}), {r.fps:.1f} images/s{memory}")

    spec = BenchSpec(model=model, runtime=runtime, compile=compile, batch_size=batch_size, size=size,  # type: ignore[arg-type]
                     warmup=warmup, iters=iters, device=device)
    run_or_queue(spec, here=here, queue=queue, wait=wait, default="queue", show=show, timeout=timeout)


def prelabel(model: ModelArg, dataset: Annotated[str, typer.Argument(help="dataset whose images get drafts")],
             split: Annotated[Optional[str], typer.Option(help="only images of this split")] = None,
             min_score: Annotated[float, typer.Option(help="drafts need at least this score")] = 0.5,
             keep_drafts: Annotated[bool, typer.Option("--keep-drafts", help="keep this model's earlier drafts "
                                                       "(default: replace them)")] = False,
             include_labelled: Annotated[bool, typer.Option("--include-labelled",
                                                            help="also images with accepted annotations")] = False,
             runtime: RuntimeOpt = "torch", device: DeviceOpt = None, here: HereOpt = False, queue: QueueOpt = False,
             wait: WaitOpt = False, timeout: TimeoutOpt = 3600.0) -> None:
    """Store a model version's predictions on a dataset as draft annotations (queued by default)."""
    from studio.jobs.kinds import PrelabelSpec
    from studio.prelabel import PrelabelReport

    ensure_db()

    def show(r: PrelabelReport) -> None:
        typer.echo(f"{r.annotations} drafts ({r.source}) on {r.labelled} of {r.images} images; "
                   f"{r.skipped} already labelled, {r.replaced} earlier drafts replaced")

    spec = PrelabelSpec(model=model, dataset=dataset, split=split, min_score=min_score,  # type: ignore[arg-type]
                        replace_drafts=not keep_drafts, include_labelled=include_labelled, runtime=runtime,
                        device=device)
    run_or_queue(spec, here=here, queue=queue, wait=wait, default="queue", show=show, timeout=timeout)


def register(app: typer.Typer) -> None:
    """Add this feature's commands to ``app``; ``onnx`` and ``torchscript`` join the existing
    ``studio export`` group (beside the dataset formats)."""
    app.command("evaluate")(evaluate)
    evaluations_app = typer.Typer(cls=_ListByDefault, help="Evaluations: list (`studio evaluations [MODEL]`), "
                                  "report ID OUT.html.", invoke_without_command=True)
    evaluations_app.command("list")(evaluations)
    evaluations_app.command("report")(evaluation_report)
    app.add_typer(evaluations_app, name="evaluations")
    app.command("compare")(compare)
    app.command("bench")(bench)
    app.command("prelabel")(prelabel)
    export_group = next((g.typer_instance for g in app.registered_groups if g.name == "export"), None)
    if export_group is None:
        export_group = typer.Typer(help="Export datasets and models.", no_args_is_help=True)
        app.add_typer(export_group, name="export")
    export_group.command("onnx")(export_onnx)
    export_group.command("torchscript")(export_torchscript)
    export_group.command("int8")(export_int8)
