"""`studio keypoints import | list | show | snapshot | demo`: keypoint-sequence datasets (sign language).

Keypoint datasets live in files under ``<data_dir>/keypoints/`` (studio.keypoints.dataset); these
commands need no database. Train on one with ``task: sequence`` and ``dataset: NAME``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

keypoints_app = typer.Typer(help="Keypoint-sequence datasets (sign language): import, list, snapshot, demo.",
                            no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="keypoint dataset name")]
LayoutOpt = Annotated[Optional[str], typer.Option(
    "--layout", help="layout of a new dataset: hands126 | hands_pose156 (default: fits the data; "
                     "hands_pose156 for Holistic)")]


@keypoints_app.command("import")
def import_keypoints(
    name: NameArg,
    path: Annotated[Path, typer.Argument(help="keypoint.csv / point_history.csv (MediaPipe), a folder "
                                              "<gloss>/<clip>.csv|npy|npz, or MediaPipe Holistic keypoints "
                                              "<sign>/<sequence>/<frame>.npy (1662 values)")],
    layout: LayoutOpt = None,
    kind: Annotated[str, typer.Option(help="auto | keypoint | point_history | clips | holistic")] = "auto",
    labels: Annotated[Optional[Path], typer.Option(help="label names CSV (default: *label*.csv beside PATH)")] = None,
    hand: Annotated[str, typer.Option(help="which hand the MediaPipe CSV rows are: left | right")] = "right",
    static_frames: Annotated[int, typer.Option(help="frames per clip for static hand poses (keypoint CSV)")] = 8,
) -> None:
    """Import clips into keypoint dataset NAME (created when missing)."""
    from studio.keypoints.importers import import_path

    report = import_path(name, path, layout=layout, kind=kind, labels=labels, hand=hand, static_frames=static_frames)
    typer.echo(f"{name}: {report.added} clips added from {report.rows} {report.kind} rows"
               f"{f', {len(report.duplicates)} duplicates skipped' if report.duplicates else ''}; "
               f"glosses: {', '.join(report.glosses)}")
    for line in report.duplicates[:10]:
        typer.echo(f"  duplicate: {line}")


@keypoints_app.command("list")
def list_keypoints() -> None:
    """List keypoint datasets with their layout, counts and versions."""
    from studio.keypoints.dataset import list_keypoint_datasets
    from studio.naming import data_versions

    rows = list_keypoint_datasets()
    if not rows:
        typer.echo("no keypoint datasets yet: `studio keypoints demo NAME` or `studio keypoints import NAME PATH`")
    for d in rows:
        versions = data_versions(d.versions)
        typer.echo(f"{d.name:24} {d.layout:14} D={d.dim:<4} {d.clips:6} clips {d.glosses:4} glosses "
                   f"{d.categories:3} categories  versions: {versions}")


@keypoints_app.command("show")
def show_keypoints(name: NameArg) -> None:
    """Clips per gloss and split of keypoint dataset NAME (JSON)."""
    from collections import Counter

    from studio.commands.common import print_json
    from studio.keypoints.dataset import list_versions, load_manifest

    manifest = load_manifest(name)
    per_gloss = Counter((c["gloss"], c["split"]) for c in manifest["clips"])
    print_json({"name": name, "layout": manifest["layout"]["name"], "dim": manifest["layout"]["dim"],
                "clips": len(manifest["clips"]), "glosses": {g: {s: per_gloss[(g, s)] for s in ("train", "val", "test")
                                                                 if per_gloss[(g, s)]} for g in manifest["glosses"]},
                "categories": manifest["categories"], "versions": list_versions(name)})


@keypoints_app.command("snapshot")
def snapshot_keypoints(name: NameArg, note: Annotated[str, typer.Option(help="what changed")] = "") -> None:
    """Freeze keypoint dataset NAME as a new immutable version (what training reads); the latest
    version is reused when nothing changed since."""
    from studio.keypoints.dataset import list_versions, snapshot, version_info
    from studio.naming import data_version

    before = list_versions(name)
    info = version_info(name, snapshot(name, note))
    what = "unchanged since" if info.version in before else "saved as"
    typer.echo(f"{name}: {what} {data_version(name, info.version)}: {len(info.clips)} clips, "
               f"{len(info.glosses)} glosses, {len(info.categories)} categories")


@keypoints_app.command("demo")
def demo_keypoints(
    name: NameArg,
    glosses: Annotated[int, typer.Option(help="number of synthetic glosses (up to 108)")] = 8,
    clips: Annotated[int, typer.Option(help="clips per gloss")] = 20,
    length: Annotated[int, typer.Option(help="frames per clip")] = 32,
    layout: Annotated[str, typer.Option(help="hands126 | hands_pose156")] = "hands_pose156",
    seed: Annotated[int, typer.Option(help="random seed (same seed, same clips)")] = 0,
) -> None:
    """Generate synthetic signs (hand motions per gloss, grouped in categories) into dataset NAME."""
    from studio.keypoints.dataset import add_clips, create_keypoint_dataset
    from studio.keypoints.synthetic import generate_signs

    create_keypoint_dataset(name, layout, exist_ok=True)
    items = [{"frames": f, "gloss": g, "category": c, "source": f"synthetic seed {seed} #{i}"}
             for i, (f, g, c) in enumerate(generate_signs(glosses, clips, length, layout, seed))]
    report = add_clips(name, items)
    typer.echo(f"{name}: {report.added} synthetic clips of {glosses} glosses added"
               f"{f' ({len(report.duplicates)} already there)' if report.duplicates else ''}; "
               f"train with task: sequence, dataset: {name}")


def register(app: typer.Typer) -> None:
    """Add ``studio keypoints ...`` to ``app``."""
    app.add_typer(keypoints_app, name="keypoints")
