"""What the Live page runs: model versions loaded once as pipeline slots, warmed up off the
page's thread (compiling on CUDA: the page shows each slot's warm-up line meanwhile)."""

from __future__ import annotations

import threading

from studio.errors import InvalidInput
from studio.live.overlay import drawer
from studio.live.pipeline import LivePipeline, Slot

LIVE_TASKS = ("semantic", "instance", "classification")  # image models; sequence models use studio.live.sign
CAMERA_SIZE = (480, 640)  # (H, W) of the page's webcam frames: what the warm-up compiles for


def model_slot(ref: str | int, runtime: str = "torch", device: str | None = None, label: str | None = None,
               tag: str = "", compile: bool | None = None) -> Slot:
    """A pipeline slot running the model version ``ref`` (loaded once per process, cached);
    its ``warmup`` line is the predictor's warm-up state. ``compile``: None = STUDIO_COMPILE."""
    from studio.inference import load_predictor

    predictor = load_predictor(ref, runtime=runtime, device=device, compile=compile)
    version = predictor.version
    if version.task not in LIVE_TASKS:
        raise InvalidInput(f"{version.name} is a {version.task} model; the live view runs {', '.join(LIVE_TASKS)} "
                           "models (sequence models run in the sign-language demo)")
    title = f"{tag}: {version.name}" if tag else version.name  # the full name, drawn with the class legend
    return Slot(label or version.name, predictor.predict, drawer([dict(c) for c in version.classes], title=title), tag,
                device=str(predictor.device), warmup=lambda: predictor.warmup_state().line())


def warm_up_in_background(refs: list[str | int], runtime: str = "torch", device: str | None = None,
                          size: tuple[int, int] = CAMERA_SIZE) -> threading.Thread:
    """Warm every version up for ``size`` frames on a daemon thread (compiling takes tens of
    seconds the first time, seconds from the cache); the thread, started."""
    from studio.inference import load_predictor

    def run() -> None:
        for ref in refs:
            try:
                load_predictor(ref, runtime=runtime, device=device).warm_up([size])
            except Exception:  # noqa: BLE001 - the pipeline reports a model that fails on its first frame
                pass

    thread = threading.Thread(target=run, name="live-warmup", daemon=True)
    thread.start()
    return thread


def build_pipeline(refs: list[str | int], runtime: str = "torch", device: str | None = None,
                   concurrent: bool | None = None, warm_size: tuple[int, int] | None = CAMERA_SIZE) -> LivePipeline:
    """A started pipeline over one or two versions, drawn side by side (A left, B right), run
    concurrently (``concurrent``: None = the pipeline's default, on for two); warmed up for
    ``warm_size`` frames in the background (None: not)."""
    if not 1 <= len(refs) <= 2:
        raise InvalidInput(f"live view: expected one or two model versions, got {len(refs)}")
    labels = ["A", "B"] if len(refs) == 2 else [None]
    slots = [model_slot(ref, runtime, device, f"{tag}: {ref}" if tag else None, tag or "")
             for tag, ref in zip(labels, refs)]
    if warm_size is not None:
        warm_up_in_background(refs, runtime, device, warm_size)
    return LivePipeline(slots, concurrent=concurrent).start()
