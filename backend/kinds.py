"""Registry of job kinds: a name -> a body ``def body(ctx: JobContext) -> dict | None``.

The dict a body returns becomes ``Job.result`` (JSON). Bodies run in the worker's child
process (``backend.child``), so they may be slow, use a GPU, or be killed on cancel.
Heavy imports belong inside the bodies: ``studio.jobs.enqueue`` imports this module in
the UI process to validate kinds.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import InvalidInput

if TYPE_CHECKING:
    from studio.jobs import JobContext

JobBody = Callable[["JobContext"], "dict[str, Any] | None"]

_KINDS: dict[str, JobBody] = {}


def job_kind(name: str) -> Callable[[JobBody], JobBody]:
    """Register the decorated function as the body of job kind ``name``."""

    def register(body: JobBody) -> JobBody:
        if name in _KINDS and _KINDS[name] is not body:
            raise ValueError(f"job kind {name!r} is already registered (by {_KINDS[name].__qualname__})")
        _KINDS[name] = body
        return body

    return register


def _load_feature_bodies() -> None:
    """Import the feature modules of ``backend.bodies`` (each registers its kinds once)."""
    import importlib

    from backend.bodies import BODY_MODULES

    for name in BODY_MODULES:
        importlib.import_module(name)


def known_kinds() -> list[str]:
    """The registered kind names, sorted."""
    _load_feature_bodies()
    return sorted(_KINDS)


def get_body(kind: str) -> JobBody:
    """The body of ``kind``; InvalidInput naming the known kinds if there is none."""
    _load_feature_bodies()
    try:
        return _KINDS[kind]
    except KeyError:
        raise InvalidInput(f"unknown job kind {kind!r}; expected one of: {', '.join(known_kinds())}") from None


def _require(params: dict[str, Any], *keys: str) -> None:
    """InvalidInput naming the missing keys of a job's params."""
    missing = [k for k in keys if k not in params]
    if missing:
        raise InvalidInput(f"job params lack {', '.join(missing)} (expected {', '.join(keys)}); got {sorted(params)}")


def _jsonable(report: Any) -> dict[str, Any]:
    """A dataclass report as a JSON-ready dict (Paths as strings)."""

    def convert(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        return value

    return convert(dataclasses.asdict(report))


@job_kind("sleep")
def sleep_body(ctx: JobContext) -> dict[str, Any]:
    """Diagnostic job: sleep ``seconds`` in ``steps`` steps, reporting progress each step;
    ``fail: true`` raises an error halfway (tests and the UI smoke test use it)."""
    seconds = float(ctx.params.get("seconds", 1.0))
    steps = max(int(ctx.params.get("steps", 10)), 1)
    for step in range(steps):
        if ctx.params.get("fail") and step >= steps // 2:
            raise RuntimeError(f"failing on purpose at step {step + 1}/{steps} (params fail=true)")
        time.sleep(seconds / steps)
        ctx.progress((step + 1) / steps, f"step {step + 1}/{steps}")
    return {"slept": seconds, "steps": steps}


@job_kind("import")
def import_body(ctx: JobContext) -> dict[str, Any]:
    """Import a dataset (COCO / YOLO / PNG masks ...) from ``source`` into ``dataset``."""
    from studio.transfer import import_dataset

    p = ctx.params
    _require(p, "format", "source", "dataset")
    report = import_dataset(
        fmt=p["format"],
        source=Path(p["source"]),
        dataset=p["dataset"],
        link=p.get("link", False),
        split=p.get("split"),
        progress=ctx.progress,
    )
    return _jsonable(report)


@job_kind("export")
def export_body(ctx: JobContext) -> dict[str, Any]:
    """Export ``dataset`` (or one of its versions) in ``format`` to ``out``."""
    from studio.transfer import export_dataset

    p = ctx.params
    _require(p, "format", "dataset", "out")
    report = export_dataset(
        fmt=p["format"],
        dataset=p["dataset"],
        out=Path(p["out"]),
        mode=p.get("mode", "rle"),
        version=p.get("version"),
        force=p.get("force", False),
        progress=ctx.progress,
    )
    return _jsonable(report)
