"""`studio pull NAME`, `studio cache info | clear`, `studio embed DATASET`.

``pull`` runs whatever is registered under NAME in ``studio.segment.pull.PULLERS`` (the
SAM checkpoints here; other features register theirs, e.g. ``mediapipe``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from studio.commands.common import HereOpt, QueueOpt, TimeoutOpt, WaitOpt
from studio.errors import StudioError


def _pull(
    what: Annotated[str, typer.Argument(help="what to download: sam-vit-b | sam-vit-l | sam-vit-h (and others "
                                             "features register, see `studio pull list`)")],
    dest: Annotated[Optional[Path], typer.Option(help="folder to put it in (default: where the studio "
                                                      "looks for it, e.g. <models_dir>/sam)")] = None,
) -> None:
    """Download model weights (the only command that uses the network), verified by checksum."""
    from studio.commands.common import tqdm_progress
    from studio.segment.pull import PULLERS, run_puller

    if what == "list":
        for name, entry in sorted(PULLERS.items()):
            typer.echo(f"{name:14} {entry.description}")
        return
    if what not in PULLERS:
        raise StudioError(f"nothing to pull called {what!r}; expected one of: {', '.join(sorted(PULLERS))}")
    with tqdm_progress(what) as progress:
        path = run_puller(what, dest, progress)
    typer.echo(f"{what}: saved {path}")


def _cache_info(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Entries and size of the embedding cache, per segmenter."""
    from studio.commands.common import print_json
    from studio.segment.cache import get_cache

    cache = get_cache()
    info = cache.info()
    if as_json:
        print_json({"root": str(cache.root), **info.__dict__})
        return
    mb = 1024 * 1024
    typer.echo(f"embedding cache {cache.root}: {info.entries} entries, {info.bytes / mb:.1f} MB "
               f"of {info.max_bytes / mb:.0f} MB")
    for segmenter_id, entry in info.by_segmenter.items():
        typer.echo(f"  {segmenter_id:32} {entry['entries']:6} entries {entry['bytes'] / mb:9.1f} MB")


def _cache_clear(
    segmenter: Annotated[Optional[str], typer.Option("--segmenter", help="only this segmenter id "
                                                                          "(see `studio cache info`)")] = None,
) -> None:
    """Delete cached embeddings (all, or one segmenter's)."""
    from studio.segment.cache import get_cache

    removed = get_cache().clear(segmenter)
    typer.echo(f"removed {removed} cached embedding(s){f' of {segmenter}' if segmenter else ''}")


def _embed(
    dataset: Annotated[str, typer.Argument(help="dataset name")],
    segmenter: Annotated[Optional[str], typer.Option(help="auto | vit_b | vit_l | vit_h | fallback "
                                                          "(default STUDIO_SAM_MODEL)")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="images per encoder call (default: 8 on CUDA, 1 on "
                                                            "a CPU); halved when the GPU runs out of memory")] = None,
    here: HereOpt = False, queue: QueueOpt = False, wait: WaitOpt = False, timeout: TimeoutOpt = 24 * 3600,
) -> None:
    """Compute (and cache) the embedding of every image of DATASET (queued for the worker by default)."""
    from studio.commands.common import ensure_db, print_json, run_or_queue
    from studio.jobs.kinds import EmbedSpec

    ensure_db()
    run_or_queue(EmbedSpec(dataset=dataset, segmenter=segmenter, batch_size=batch_size), here=here, queue=queue,
                 wait=wait, default="queue", show=print_json, timeout=timeout)


def register(app: typer.Typer) -> None:
    """Add ``pull``, ``cache info | clear`` and ``embed`` to ``app``."""
    app.command("pull")(_pull)
    cache_app = typer.Typer(help="The embedding cache (SAM image embeddings on disk).", no_args_is_help=True)
    cache_app.command("info")(_cache_info)
    cache_app.command("clear")(_cache_clear)
    app.add_typer(cache_app, name="cache")
    app.command("embed")(_embed)
