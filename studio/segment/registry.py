"""Which segmenter the studio uses (``STUDIO_SAM_MODEL``), and embeddings through the cache.

``auto`` (default) picks a SAM checkpoint found in ``<models_dir>/sam/`` under its official
name (or ``sam_<type>*.pth``). With several present: on CUDA the best quality first
(vit_h, vit_l, vit_b: the encoder takes well under a second there), elsewhere the fastest
first (vit_b, vit_l, vit_h: on a CPU vit_b's encoder already takes ~20-30 s per image and
vit_h several times that). Without a checkpoint, or with an explicit ``vit_*`` whose file
is missing, the OpenCV fallback is used and the note says where to put a checkpoint and
which command downloads it; the UI keeps working either way. ``random-vit_b`` (``-vit_l``,
``-vit_h``) builds SAM with random weights: SAM's compute and code path without its quality,
for tests and benchmarks on machines without a checkpoint. The choice is made once per
process (per setting and folder).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from studio.segment.base import Embedding, Segmenter
from studio.segment.pull import SAM_CHECKPOINTS

SETTINGS = ("auto", "vit_b", "vit_l", "vit_h", "fallback", "random-vit_b", "random-vit_l", "random-vit_h")
RANDOM_PREFIX = "random-"  # random-<type>: SAM with random weights (tests, benchmarks)


@dataclass(frozen=True)
class SegmenterChoice:
    """The segmenter to use and a sentence for people about why (shown on the Label page)."""

    segmenter: Segmenter
    note: str


_CHOICES: dict[tuple[str, str, str], SegmenterChoice] = {}
_LOCK = threading.Lock()


def find_checkpoint(sam_dir: Path, model_type: str) -> Path | None:
    """The official file of ``model_type`` in ``sam_dir``, else a ``sam_<type>*.pth`` there."""
    official = sam_dir / SAM_CHECKPOINTS[model_type].file
    if official.is_file():
        return official
    others = sorted(sam_dir.glob(f"sam_{model_type}*.pth")) if sam_dir.is_dir() else []
    return others[0] if others else None


def _pull_hint(model_type: str, sam_dir: Path) -> str:
    spec = SAM_CHECKPOINTS[model_type]
    return (f"put {spec.file} (~{spec.size_mb} MB, from {spec.url}) into {sam_dir}/, "
            f"or run `studio pull sam-{model_type.replace('_', '-')}`")


def _fallback(note: str) -> SegmenterChoice:
    from studio.segment.fallback import FallbackSegmenter

    return SegmenterChoice(FallbackSegmenter(), note)


def _sam(model_type: str, checkpoint: Path, why: str) -> SegmenterChoice:
    from studio.errors import StudioError
    from studio.segment.sam import SamSegmenter

    try:
        segmenter = SamSegmenter(model_type, checkpoint)
        device = segmenter.device.type
    except (StudioError, OSError) as exc:
        return _fallback(f"SAM {model_type} could not be used ({exc}); using the OpenCV fallback. "
                         + _pull_hint(model_type, checkpoint.parent))
    return SegmenterChoice(segmenter, f"SAM {model_type} from {checkpoint} on {device}{why}.")


def _choose(setting: str, sam_dir: Path) -> SegmenterChoice:
    if setting == "fallback":
        return _fallback("SAM is switched off (STUDIO_SAM_MODEL=fallback); the OpenCV fallback segments clicks.")
    if setting.startswith(RANDOM_PREFIX) and setting[len(RANDOM_PREFIX):] in SAM_CHECKPOINTS:
        from studio.segment.sam import SamSegmenter

        model_type = setting[len(RANDOM_PREFIX):]
        segmenter = SamSegmenter(model_type, None)
        return SegmenterChoice(segmenter, f"SAM {model_type} with RANDOM weights (STUDIO_SAM_MODEL={setting}): "
                                          "SAM's speed, not its masks; for tests and benchmarks.")
    if setting in SAM_CHECKPOINTS:
        path = find_checkpoint(sam_dir, setting)
        if path is None:
            return _fallback(f"STUDIO_SAM_MODEL={setting}, but {sam_dir / SAM_CHECKPOINTS[setting].file} is missing; "
                             f"using the OpenCV fallback. To use SAM, {_pull_hint(setting, sam_dir)}.")
        return _sam(setting, path, "")
    if setting != "auto":
        return _fallback(f"STUDIO_SAM_MODEL={setting!r} is not one of {', '.join(SETTINGS)}; using the OpenCV "
                         f"fallback. {_pull_hint('vit_b', sam_dir).capitalize()}.")
    found = {t: p for t in SAM_CHECKPOINTS if (p := find_checkpoint(sam_dir, t)) is not None}
    if not found:
        return _fallback(f"No SAM checkpoint in {sam_dir}/; using the OpenCV fallback (good on plain "
                         f"backgrounds). For SAM, {_pull_hint('vit_b', sam_dir)}.")
    if len(found) == 1:
        model_type, path = next(iter(found.items()))
        return _sam(model_type, path, "")
    from studio.device import resolve_device

    on_cuda = resolve_device().type == "cuda"
    order = ("vit_h", "vit_l", "vit_b") if on_cuda else ("vit_b", "vit_l", "vit_h")
    model_type = next(t for t in order if t in found)
    why = (" (the best of the checkpoints present; CUDA makes it fast)" if on_cuda else
           " (the fastest of the checkpoints present on this CPU; set STUDIO_SAM_MODEL to choose another)")
    return _sam(model_type, found[model_type], why)


def choose_segmenter(setting: str | None = None) -> SegmenterChoice:
    """The segmenter for ``setting`` (default ``STUDIO_SAM_MODEL``), chosen once per process;
    never raises for a missing or unusable checkpoint (the fallback and a note instead)."""
    from studio.config import get_settings

    settings = get_settings()
    value = (setting or settings.sam_model or "auto").strip().lower()
    key = (value, str(settings.sam_dir.resolve()), str(settings.device))
    with _LOCK:
        choice = _CHOICES.get(key)
        if choice is None:
            choice = _CHOICES[key] = _choose(value, settings.sam_dir.resolve())
        return choice


def get_segmenter() -> Segmenter:
    """``choose_segmenter().segmenter``."""
    return choose_segmenter().segmenter


def clear_choices() -> None:
    """Forget the choices made (tests; after a checkpoint was added)."""
    with _LOCK:
        _CHOICES.clear()


def embedding_for(segmenter: Segmenter, content_hash: str, path: str | Path) -> tuple[Embedding, str]:
    """The embedding of the image at ``path`` (content hash ``content_hash``) through the
    process-wide cache: ``(embedding, "memory" | "disk" | "computed")``."""
    from studio.config import get_settings
    from studio.images import load_rgb
    from studio.segment.cache import get_cache

    limit = get_settings().max_image_pixels
    return get_cache().get_or_compute(segmenter, content_hash,
                                      lambda: segmenter.set_image(load_rgb(Path(path), limit)))
