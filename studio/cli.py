"""`studio ...`: the command line. Each command is a thin call into the core.

Failures print one line (``studio: <reason>``) and exit with status 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from studio.config import get_settings
from studio.errors import StudioError
from studio.commands import register_all
from studio.commands.common import HereOpt, QueueOpt, WaitOpt, ensure_db, print_json, run_or_queue, tqdm_progress

if TYPE_CHECKING:
    from studio.datasets import IngestReport
    from studio.formats.records import ExportReport

app = typer.Typer(help="Studio: label, train, evaluate and export vision models, locally.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
import_app = typer.Typer(help="Import a dataset (runs here with a progress bar, or --queue for the worker).",
                         no_args_is_help=True)
export_app = typer.Typer(help="Export a dataset; every export is re-read and checked before it is reported done.",
                         no_args_is_help=True)
jobs_app = typer.Typer(help="List, inspect and cancel jobs.", invoke_without_command=True)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(jobs_app, name="jobs")

SERVER_FILE = Path(__file__).resolve().parent.parent / "server.py"  # app.py + the components' HTTP routes
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="dataset name (created on import)")]


def _print_json(obj: object) -> None:
    print_json(obj)


def _ensure_db() -> None:
    ensure_db()


# ---- setup -----------------------------------------------------------------------------

@app.command()
def init() -> None:
    """Create or upgrade the database (alembic) and the data folders."""
    from studio.db import current_revision, migrate

    settings = get_settings()
    for folder in (settings.data_dir, settings.store_dir, settings.models_dir / "sam"):
        folder.mkdir(parents=True, exist_ok=True)
    migrate()
    typer.echo(f"database {settings.db_url} at revision {current_revision()}; data in {settings.data_dir}/")


@app.command()
def demo(
    name: Annotated[str, typer.Option(help="dataset name")] = "shelves",
    images: Annotated[int, typer.Option(help="number of generated shelf scenes")] = 24,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same images)")] = 0,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="only when the database has no dataset")] = False,
    all_labelled: Annotated[bool, typer.Option("--all-labelled", help="import every scene's masks (default: "
                                                                      "about half the scenes are left to label)")] = False,
) -> None:
    """Generate synthetic shelf scenes with exact instance masks and import them (about half left to label)."""
    from studio.datasets import list_datasets
    from studio.demo import load_demo

    ensure_db(create=True)
    if if_empty and list_datasets():
        typer.echo("database already has datasets; demo not loaded")
        return
    with tqdm_progress("demo") as progress:
        report = load_demo(dataset=name, n_images=images, seed=seed, progress=progress,
                           **({"labelled_fraction": 1.0} if all_labelled else {}))
    typer.echo(f"dataset {name!r}: {report.images_added} images, {report.annotations_added} annotations")


@app.command()
def worker(
    workers: Annotated[int, typer.Option(help="jobs run at the same time (without --gpus / --cpu)")] = 2,
    gpus: Annotated[Optional[str], typer.Option(help="one worker process per GPU on the GPU lane, e.g. 0,1,2,3")] = None,
    cpu: Annotated[Optional[int], typer.Option(help="a worker process with N threads on the CPU lane")] = None,
    multi_gpu: Annotated[bool, typer.Option("--multi-gpu", help="a worker process for training runs on "
                                                                "several GPUs (gpus: N), seeing them all")] = False,
) -> None:
    """Run job workers until Ctrl-C: one process on every lane, or --gpus / --cpu / --multi-gpu processes."""
    from backend.worker import plan_processes, run_worker, worker_command, worker_env
    from studio.processes import ChildProcesses

    _ensure_db()
    plan = plan_processes(gpus, cpu, workers, multi_gpu)
    if len(plan) == 1 and plan[0].gpu is None:
        run_worker(plan[0].threads, plan[0].lanes)
        return
    for process in plan:
        typer.echo(f"worker: lanes {','.join(process.lanes)}, {process.threads} thread(s)"
                   + (f", GPU {process.gpu}" if process.gpu is not None else ""))
    with ChildProcesses(grace=30.0) as children:  # SIGTERM to each: its jobs go back on the queue
        children.stop_on_signals()
        started = [children.start(worker_command(p), env=worker_env(p)) for p in plan]
        for process in started:
            process.wait()


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8501,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    with_worker: Annotated[bool, typer.Option("--with-worker", help="also start the worker; Ctrl-C stops both")] = False,
) -> None:
    """Start the Streamlit app (and optionally the worker). On an address other than loopback the
    studio needs logins, so it refuses to start until a user exists (`studio users add`)."""
    from studio.offline import STREAMLIT_OFFLINE_FLAGS
    from studio.processes import ChildProcesses
    from studio.users import first_admin_hint, is_loopback, users_exist

    _ensure_db()
    if not is_loopback(host) and not users_exist():
        raise StudioError(f"--host {host} lets other machines reach the studio, so it needs logins, and no user "
                          f"is configured: {first_admin_hint()}; or serve on 127.0.0.1 (no login)")
    command = [sys.executable, "-m", "streamlit", "run", str(SERVER_FILE), "--server.address", host,
               "--server.port", str(port), "--server.maxUploadSize", "4096",
               "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal", *STREAMLIT_OFFLINE_FLAGS]
    typer.echo(f"studio on http://{host}:{port}  (Ctrl-C stops {'app and worker' if with_worker else 'the app'})")
    # Every child in its own process group, stopped (SIGTERM, then SIGKILL) when this command
    # ends for any reason, SIGTERM included: nothing it started outlives it.
    with ChildProcesses() as children:
        children.stop_on_signals()
        if with_worker:
            children.start([sys.executable, "-m", "studio.cli", "worker"])
        app_process = children.start(command)
        try:
            app_process.wait()
        except KeyboardInterrupt:
            pass


# ---- datasets --------------------------------------------------------------------------

@app.command()
def datasets() -> None:
    """List datasets with their counts."""
    from studio.datasets import list_datasets

    _ensure_db()
    rows = list_datasets()
    if not rows:
        typer.echo("no datasets yet: `studio demo` or `studio import images FOLDER --dataset NAME`")
    for d in rows:
        typer.echo(f"{d.name:24} {d.images:7} images {d.annotations:8} annotations {d.classes:4} classes "
                   f"{d.versions:3} versions  created {d.created_at}")


@app.command()
def stats(dataset: Annotated[str, typer.Argument(help="dataset name")]) -> None:
    """Counts per split, class, status and source, and the dataset's versions (JSON)."""
    from studio.datasets import dataset_stats

    _ensure_db()
    _print_json(dataset_stats(dataset))


@app.command()
def snapshot(dataset: Annotated[str, typer.Argument(help="dataset name")],
             note: Annotated[str, typer.Option(help="what changed")] = "") -> None:
    """Freeze the dataset (images + accepted annotations) as a new immutable version (the latest
    one is reused when nothing changed since)."""
    from studio.datasets import take_snapshot

    _ensure_db()
    taken = take_snapshot(dataset, note)
    version = taken.version
    what = "unchanged since" if taken.reused else "saved as"
    typer.echo(f"{dataset}: {what} {taken.label}: {version.image_count} images, "
               f"{version.annotation_count} annotations")


def _import(fmt: str, source: Path, dataset: str, link: bool, split: Optional[str], where: dict,
            classes: Optional[str] = None) -> None:
    from studio.jobs.kinds import ImportSpec

    _ensure_db()
    names: tuple[str, ...] = ()
    if classes:
        from studio.class_names import parse_class_list

        names = tuple(parse_class_list(classes))
    spec = ImportSpec(format=fmt, source=source, dataset=dataset, link=link, split=split,  # type: ignore[arg-type]
                      classes=names)
    run_or_queue(spec, **where, default="here", show=_show_import)


def _show_import(report: IngestReport) -> None:
    typer.echo(f"{report.dataset}: +{report.images_added} images, +{report.annotations_added} annotations, "
               f"{len(report.duplicates)} duplicates, {len(report.skipped)} skipped"
               + (f"; new classes: {', '.join(report.classes_added)}" if report.classes_added else ""))
    for line in report.duplicates[:20]:
        typer.echo(f"  duplicate: {line}")
    for line in report.skipped[:50]:
        typer.echo(f"  skipped: {line}")


SourceArg = Annotated[Path, typer.Argument(help="folder, file, or .zip/.tar archive")]
LinkOpt = Annotated[bool, typer.Option("--link", help="keep images where they are instead of copying them")]
SplitOpt = Annotated[Optional[str], typer.Option(help="put every image in this split (train/val/test)")]
ClassesOpt = Annotated[Optional[str], typer.Option(
    "--classes", help="class names to create: 'a,b,c' or a file (one per line, classes.json, labels.txt)")]


def _where(here: bool, queue: bool, wait: bool) -> dict:
    return {"here": here, "queue": queue, "wait": wait}


@import_app.command("images")
def import_images(source: SourceArg, dataset: DatasetOpt, link: LinkOpt = False, split: SplitOpt = None,
                  classes: ClassesOpt = None, here: HereOpt = False, queue: QueueOpt = False,
                  wait: WaitOpt = False) -> None:
    """A folder of images (unreadable files are skipped and listed); --classes names the classes to label."""
    _import("images", source, dataset, link, split, _where(here, queue, wait), classes)


@import_app.command("coco")
def import_coco(source: SourceArg, dataset: DatasetOpt, link: LinkOpt = False, split: SplitOpt = None,
                here: HereOpt = False, queue: QueueOpt = False, wait: WaitOpt = False) -> None:
    """COCO instances JSON (polygons, RLE, crowd), or a folder with annotations.json + images/."""
    _import("coco", source, dataset, link, split, _where(here, queue, wait))


@import_app.command("yolo")
def import_yolo(source: SourceArg, dataset: DatasetOpt, link: LinkOpt = False, split: SplitOpt = None,
                here: HereOpt = False, queue: QueueOpt = False, wait: WaitOpt = False) -> None:
    """YOLO-seg: data.yaml + images/ + labels/."""
    _import("yolo", source, dataset, link, split, _where(here, queue, wait))


@import_app.command("masks")
def import_masks(source: SourceArg, dataset: DatasetOpt, link: LinkOpt = False, split: SplitOpt = None,
                 here: HereOpt = False, queue: QueueOpt = False, wait: WaitOpt = False) -> None:
    """Indexed/palette PNG masks (255 = unlabelled) + a classes file (VOC layout)."""
    _import("masks", source, dataset, link, split, _where(here, queue, wait))


def _export(fmt: str, out: Path, dataset: str, mode: str, version: Optional[int], force: bool, where: dict) -> None:
    from studio.jobs.kinds import ExportSpec

    _ensure_db()
    spec = ExportSpec(format=fmt, dataset=dataset, out=out, mode=mode, version=version,  # type: ignore[arg-type]
                      force=force)
    run_or_queue(spec, **where, default="here", show=_show_export)


def _show_export(report: ExportReport) -> None:
    typer.echo(f"wrote {report.path}: {report.images} images, {report.annotations} objects; "
               f"checked {report.checked}, min IoU {report.min_iou:.3f}"
               + (f", {report.rle_fallbacks} masks with holes kept as RLE" if report.rle_fallbacks else ""))
    for note in report.notes:
        typer.echo(f"  note: {note}")


OutArg = Annotated[Path, typer.Argument(help="output folder (refused if it exists, unless --force)")]
VersionOpt = Annotated[Optional[int], typer.Option(help="export this snapshot instead of the live dataset")]
ForceOpt = Annotated[bool, typer.Option("--force", help="replace an existing output")]


@export_app.command("coco")
def export_coco(out: OutArg, dataset: DatasetOpt,
                mode: Annotated[str, typer.Option(help="rle, or polygon (masks with holes stay RLE)")] = "rle",
                version: VersionOpt = None, force: ForceOpt = False, here: HereOpt = False, queue: QueueOpt = False,
                wait: WaitOpt = False) -> None:
    """COCO instances JSON + images/."""
    _export("coco", out, dataset, mode, version, force, _where(here, queue, wait))


@export_app.command("yolo")
def export_yolo(out: OutArg, dataset: DatasetOpt, version: VersionOpt = None, force: ForceOpt = False,
                here: HereOpt = False, queue: QueueOpt = False, wait: WaitOpt = False) -> None:
    """YOLO-seg (holes joined to their outline so they survive rasterising)."""
    _export("yolo", out, dataset, "polygon", version, force, _where(here, queue, wait))


@export_app.command("masks")
def export_masks(out: OutArg, dataset: DatasetOpt, version: VersionOpt = None, force: ForceOpt = False,
                 here: HereOpt = False, queue: QueueOpt = False, wait: WaitOpt = False) -> None:
    """Palette PNG masks + classes.json."""
    _export("masks", out, dataset, "rle", version, force, _where(here, queue, wait))


# ---- jobs ------------------------------------------------------------------------------

@jobs_app.callback()
def jobs_default(ctx: typer.Context) -> None:
    """Without a subcommand: list recent jobs."""
    if ctx.invoked_subcommand is None:
        jobs_list()


@jobs_app.command("list")
def jobs_list(status: Annotated[Optional[str], typer.Option(help="only jobs in this status")] = None) -> None:
    """Recent jobs, newest first."""
    from studio.jobs import list_jobs

    _ensure_db()
    for job in list_jobs(status=status):
        typer.echo(f"{job.id}  {job.kind:10} {job.status:10} {job.progress * 100:5.1f}%  {job.message[:60]}")


@jobs_app.command("show")
def jobs_show(job_id: str) -> None:
    """One job with its parameters, result, error and log."""
    from studio.jobs import get_job

    _ensure_db()
    _print_json(get_job(job_id).model_dump())


@jobs_app.command("cancel")
def jobs_cancel(job_id: str) -> None:
    """Cancel a queued job, or stop a running one."""
    from studio.jobs import cancel

    _ensure_db()
    job = cancel(job_id)
    typer.echo(f"{job.id}: {job.status}" + (" (stop requested)" if job.cancel_requested and not
                                              job.status == "cancelled" else ""))


register_all(app)


@jobs_app.command("retry")
def jobs_retry(job_id: str) -> None:
    """Queue a finished job again (a training run resumes from its last checkpoint)."""
    from studio.jobs import retry

    _ensure_db()
    typer.echo(f"queued job {retry(job_id)} (again: {job_id})")


def main() -> None:
    """Console entry: run the app, turning studio errors into one line and exit status 1."""
    try:
        app()
    except StudioError as exc:
        typer.echo(f"studio: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
