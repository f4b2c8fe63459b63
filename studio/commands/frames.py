"""`studio frames import | list | snapshot`: clip datasets of raw frames (studio.frame_clips), what the
frame-CNN + GRU sign model (``frame_cnn_gru``) trains on: ``studio train`` with ``task: sequence``,
``architecture: frame_cnn_gru``, ``dataset: NAME``. Files under ``<data_dir>/frame_clips/``; no database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

frames_app = typer.Typer(help="Clip datasets of raw frames (videos, frame folders) for frame_cnn_gru.",
                         no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(help="clip dataset name")]


@frames_app.command("import")
def import_clips(
    name: NameArg,
    root: Annotated[Path, typer.Argument(help="folder ROOT/<gloss>/<clip>: a video (.mp4, .avi ...), a folder of "
                                              "frame images, or a (T, H, W, 3) uint8 .npy")],
    max_side: Annotated[int, typer.Option(help="frames are stored at most this many pixels on their longest side")] = 128,
) -> None:
    """Import clips into clip dataset NAME (created when missing)."""
    from studio.frame_clips import clip_counts, import_frames

    report = import_frames(name, root, max_side=max_side)
    counts = clip_counts(name)
    typer.echo(f"{name}: {report.added} clips added"
               f"{f', {len(report.duplicates)} duplicates skipped' if report.duplicates else ''}; "
               f"clips per gloss: {', '.join(f'{g} {n}' for g, n in counts.items())}")


@frames_app.command("list")
def list_clips() -> None:
    """List clip datasets with their clips per gloss and versions."""
    from studio.frame_clips import clip_counts, list_frame_datasets, list_versions
    from studio.naming import data_versions

    names = list_frame_datasets()
    if not names:
        typer.echo("no clip datasets yet: `studio frames import NAME ROOT`, or record on the Sign language page")
    for name in names:
        counts = clip_counts(name)
        typer.echo(f"{name:24} {sum(counts.values()):6} clips {len(counts):4} glosses  "
                   f"versions: {data_versions(list_versions(name))}")


@frames_app.command("snapshot")
def snapshot_clips(name: NameArg, note: Annotated[str, typer.Option(help="what changed")] = "") -> None:
    """Freeze clip dataset NAME as a version (the latest is reused when nothing changed)."""
    from studio.frame_clips import list_versions, snapshot, version_info
    from studio.naming import data_version

    before = list_versions(name)
    info = version_info(name, snapshot(name, note))
    what = "unchanged since" if info.version in before else "saved as"
    typer.echo(f"{name}: {what} {data_version(name, info.version)}: {len(info.clips)} clips, "
               f"{len(info.glosses)} glosses")


def register(app: typer.Typer) -> None:
    """Add ``studio frames ...`` to ``app``."""
    app.add_typer(frames_app, name="frames")
