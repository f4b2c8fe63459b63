"""`studio rank DATASET MODEL` (job "rank": the images still to label, most uncertain first) and
`studio todo DATASET` (the order the Label page's "next to do" follows)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from studio.commands.common import HereOpt, QueueOpt, TimeoutOpt, WaitOpt, ensure_db, run_or_queue


def rank(dataset: Annotated[str, typer.Argument(help="dataset whose unlabelled images are ranked")],
         model: Annotated[str, typer.Argument(help="model version name or id (its classes must be the dataset's)")],
         method: Annotated[str, typer.Option(help="entropy | margin | disagreement (with --against)")] = "entropy",
         against: Annotated[Optional[str], typer.Option(help="disagreement: the second version")] = None,
         split: Annotated[Optional[str], typer.Option(help="only images of this split")] = None,
         limit: Annotated[Optional[int], typer.Option(help="at most this many images")] = None,
         prelabel_top: Annotated[int, typer.Option(help="also pre-label the first K as drafts")] = 0,
         min_score: Annotated[float, typer.Option(help="pre-labelling: drafts need at least this score")] = 0.5,
         here: HereOpt = False, queue: QueueOpt = False, wait: WaitOpt = False, timeout: TimeoutOpt = 3600.0) -> None:
    """Order a dataset's unlabelled images by a version's uncertainty, most useful to label first (queued by default)."""
    from studio.active import RankReport
    from studio.jobs.kinds import RankSpec

    ensure_db()

    def show(r: RankReport) -> None:
        by = f"disagreement with {r.other_model}" if r.other_model else r.method
        typer.echo(f"ranking {r.ranking_id}: {r.ranked} images of {r.dataset} by {r.model}'s {by}, most uncertain first:")
        for name, score in r.top:
            typer.echo(f"  {score:.4f}  {name}")
        if r.prelabelled or r.drafts:
            typer.echo(f"pre-labelled: {r.drafts} drafts on {r.prelabelled} images")

    spec = RankSpec(dataset=dataset, model=model, method=method, other_model=against, split=split,  # type: ignore[arg-type]
                    limit=limit, prelabel_top=prelabel_top, min_score=min_score)
    run_or_queue(spec, here=here, queue=queue, wait=wait, default="queue", show=show, timeout=timeout)


def todo(dataset: Annotated[str, typer.Argument(help="dataset name")],
         top: Annotated[int, typer.Option(help="how many to list")] = 20) -> None:
    """The images still to label in the order "next to do" follows (the newest ranking first)."""
    from studio.active import latest_ranking, ranked_scores, ranked_todo
    from studio.annotations import get_image

    ensure_db()
    view = latest_ranking(dataset)
    typer.echo(f"ranking {view.id} ({view.method} of {view.model}, {view.created})" if view else
               "no ranking yet (`studio rank DATASET MODEL`): import order")
    scores = dict(ranked_scores(dataset))
    for image_id in ranked_todo(dataset)[:top]:
        score = f"{scores[image_id]:.4f}" if image_id in scores else "   -  "
        typer.echo(f"  {score}  {get_image(image_id).file_name}")


def register(app: typer.Typer) -> None:
    app.command("rank")(rank)
    app.command("todo")(todo)
