"""What the Live page runs: model versions loaded once as pipeline slots."""

from __future__ import annotations

from studio.errors import InvalidInput
from studio.live.overlay import drawer
from studio.live.pipeline import LivePipeline, Slot

LIVE_TASKS = ("semantic", "instance", "classification")  # image models; sequence models use studio.live.sign


def model_slot(ref: str | int, runtime: str = "torch", device: str | None = None, label: str | None = None,
               tag: str = "") -> Slot:
    """A pipeline slot running the model version ``ref`` (loaded once per process, cached)."""
    from studio.inference import load_predictor

    predictor = load_predictor(ref, runtime=runtime, device=device)
    version = predictor.version
    if version.task not in LIVE_TASKS:
        raise InvalidInput(f"{version.name} is a {version.task} model; the live view runs {', '.join(LIVE_TASKS)} "
                           "models (sequence models run in the sign-language demo)")
    return Slot(label or version.name, predictor.predict, drawer([dict(c) for c in version.classes]), tag)


def build_pipeline(refs: list[str | int], runtime: str = "torch", device: str | None = None) -> LivePipeline:
    """A started pipeline over one or two versions, drawn side by side (A left, B right)."""
    if not 1 <= len(refs) <= 2:
        raise InvalidInput(f"live view: expected one or two model versions, got {len(refs)}")
    labels = ["A", "B"] if len(refs) == 2 else [None]
    slots = [model_slot(ref, runtime, device, f"{tag}: {ref}" if tag else None, tag or "")
             for tag, ref in zip(labels, refs)]
    return LivePipeline(slots).start()
