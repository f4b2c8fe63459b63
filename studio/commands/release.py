"""`studio models promote | production | gate | bundle`: production versions, the A/B gate and
model bundles (``studio.production``, ``studio.bundles``). They run here (short, and their
answer is what the user waits for). ``studio models gate`` exits with status 1 when the gate
fails, after printing why; ``studio models import BUNDLE.zip`` (studio.commands.models) takes a
bundle back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from studio.commands.common import ensure_db

ModelArg = Annotated[str, typer.Argument(help="model version name or id (see `studio models list`)")]


def promote(model: ModelArg,
            dataset: Annotated[Optional[str], typer.Option(help="the dataset it serves (default: the one it was "
                                                           "trained on)")] = None,
            task: Annotated[Optional[str], typer.Option(help="the slot's task (default: the version's; another is "
                                                        "refused)")] = None,
            note: Annotated[str, typer.Option(help="why (kept in the promotion history)")] = "") -> None:
    """Put a version in production for its dataset and task (one version per pair)."""
    from studio.production import promote as run

    ensure_db()
    typer.echo(run(model, dataset=dataset, task=task, note=note).line())


def production() -> None:
    """The versions in production, per dataset and task."""
    from studio.production import production_slots

    ensure_db()
    slots = production_slots()
    if not slots:
        typer.echo("no version is in production yet; `studio models promote NAME`")
    for s in slots:
        typer.echo(f"{s.dataset:16} {s.task:15} {s.model}  (since {s.promoted_at})")


def gate(candidate: Annotated[str, typer.Argument(help="the version to check against production")],
         split: Annotated[str, typer.Option(help="split both were evaluated on")] = "val",
         max_drop: Annotated[float, typer.Option(help="largest drop of the headline metric allowed (0.01 = one "
                                                 "point of mIoU / AP / accuracy)")] = 0.01,
         max_latency: Annotated[float, typer.Option(help="largest slow-down allowed, in percent")] = 10.0,
         dataset_version: Annotated[Optional[int], typer.Option(
             "--dataset-version", help="dataset version id both were evaluated on (default: the candidate's newest "
             "evaluation on the split)")] = None) -> None:
    """Gate a candidate against its dataset's production version; exit status 1 and the reasons if it fails."""
    from studio.production import gate as run

    ensure_db()
    result = run(candidate, split=split, max_drop=max_drop, max_latency=max_latency, dataset_version=dataset_version)
    for line in result.lines():
        typer.echo(line)
    if not result.passed:
        raise typer.Exit(1)


def bundle(model: ModelArg, out: Annotated[Path, typer.Argument(help="the .zip to write")],
           force: Annotated[bool, typer.Option("--force", help="replace an existing file")] = False) -> None:
    """Write a version as a bundle zip (weights, config, model card, changelog); `models import` takes it back."""
    from studio.bundles import bundle_version

    ensure_db()
    path = bundle_version(model, out, force=force)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def register(app: typer.Typer) -> None:
    """Add promote, production, gate and bundle to the ``studio models`` group."""
    models_group = next((g.typer_instance for g in app.registered_groups if g.name == "models"), None)
    if models_group is None:
        raise RuntimeError("studio.commands.release registers after studio.commands.models (the models group)")
    models_group.command("promote")(promote)
    models_group.command("production")(production)
    models_group.command("gate")(gate)
    models_group.command("bundle")(bundle)
