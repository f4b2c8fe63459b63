"""SAM embedding speed: the studio's encoder against stock segment-anything, and the ``embed``
job's batched path against the old one-image-at-a-time path (prints a table; not a test).

    python benchmarks/embedding.py [--quick] [--models vit_b,vit_h] [--images 4] [--runs 2]

1. :func:`sam_embedding_rows`: one 640x480 image, batch 1, per SAM type (random weights: the
   speed does not depend on them), in one process side by side:
   - studio: ``SamSegmenter`` as the device gets it (CUDA: bf16 weights + SDPA + torch.compile;
     a CPU: SDPA, bf16 weights where the CPU has native bf16), after a warm-up (on CUDA the
     compile, timed separately as "compile");
   - naive peer: stock ``SamPredictor.set_image`` on a float32 model (what a plain script does);
   - on CUDA also the batch-8 figure per image (studio path, compiled, and bf16 eager).
2. :func:`embed_job_rows`: a demo dataset of ``--images`` 640x480 JPEGs embedded by the real
   ``embed`` job (``EmbedSpec.run``: decode threads, batched encoder, writer thread) against the
   old serial path (read, encode, ``.cpu()``, npz write, one image after the other, with the
   encoder as it ran before: float32 eager, bf16 autocast on CUDA), each into a cache of its own.

Rows are dicts ``{"row", "variant", "value", "unit", "device", "note"}`` (value None: not
measured, the note says why); ``benchmarks/gpu.py`` prints them with every other GPU row. On
a loaded CPU the wall clock says little: CPU rows also give the process's CPU seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throwaway import throwaway_studio  # noqa: E402

Row = dict[str, Any]
WIDTH, HEIGHT = 640, 480


def row(name: str, variant: str, value: float | None, unit: str, device: str, note: str = "") -> Row:
    return {"row": name, "variant": variant, "value": value, "unit": unit, "device": device, "note": note}


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], runs: int, device: Any) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that run) of ``runs`` calls of ``fn``."""
    best, cpu = float("inf"), 0.0
    for _ in range(runs):
        _sync(device)
        wall, proc = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        took = time.perf_counter() - wall
        if took < best:
            best, cpu = took, time.process_time() - proc
    return best, cpu


def scene_image(seed: int = 0) -> np.ndarray:
    from studio.demo import render_scene, scene_rng

    return render_scene(scene_rng(seed, 0), WIDTH, HEIGHT)[0]


def _device_label(device: Any) -> str:
    from studio.device import describe_device

    return describe_device(device)


def sam_embedding_rows(models: tuple[str, ...] = ("vit_b", "vit_h"), runs: int = 3, device: str | None = None,
                       batch: int = 8, compile_models: tuple[str, ...] = ("vit_b",)) -> list[Row]:
    """SAM embedding, batch 1: studio vs stock ``SamPredictor`` fp32 (see the module docstring).
    On CUDA the types in ``compile_models`` run compiled, as the studio runs them (each batch
    size compiles for 20-44 s with vit_b); the others eager (bf16 weights + SDPA), which the
    row's variant says. The models stay built (the embed job rows reuse the compiled vit_b)."""
    import torch
    from segment_anything import SamPredictor, sam_model_registry

    from studio.device import resolve_device
    from studio.segment.sam import SamSegmenter

    dev = resolve_device(device)
    label = _device_label(dev)
    cuda = dev.type == "cuda"
    image = scene_image()
    rows: list[Row] = []
    for model_type in models:
        name = f"SAM {model_type} embedding, batch 1"
        compiled = None if model_type in compile_models else False
        segmenter = SamSegmenter(model_type, None, device=str(dev), compile=compiled)
        warm = time.perf_counter()
        segmenter.warm_up(1)
        segmenter.compute_embedding(image)  # first call: allocator, cudnn, (the compile happened in warm_up)
        _sync(dev)
        warm = time.perf_counter() - warm
        seconds, cpu = timed(lambda s=segmenter: s.compute_embedding(image), runs, dev)
        note = f"{segmenter.runtime}; preprocessing included" + ("" if cuda else f"; {cpu:.1f} s CPU time")
        rows.append(row(name, "studio" if segmenter.compiled or not cuda else "studio eager", seconds * 1000, "ms",
                        label, note))
        if segmenter.compiled:
            rows.append(row(name, "studio: warm-up (compile)", warm, "s", label, "once per process and batch size"))
        if cuda:
            pad = [image] * batch
            segmenter.warm_up(batch)
            seconds, _ = timed(lambda s=segmenter: s.compute_embeddings(pad, pad_to=batch), runs, dev)
            rows.append(row(f"SAM {model_type} embedding, batch {batch}",
                            "studio" if segmenter.compiled else "studio eager", seconds * 1000 / batch, "ms/img",
                            label, segmenter.runtime))
            if segmenter.compiled:
                eager = SamSegmenter(model_type, None, device=str(dev), compile=False)
                eager.compute_embeddings(pad)
                seconds, _ = timed(lambda s=eager: s.compute_embeddings(pad), runs, dev)
                rows.append(row(f"SAM {model_type} embedding, batch {batch}", "studio eager", seconds * 1000 / batch,
                                "ms/img", label, eager.runtime))
        del segmenter
        torch.manual_seed(0)
        stock = sam_model_registry[model_type](checkpoint=None).eval().to(dev)
        predictor = SamPredictor(stock)
        predictor.set_image(image)
        seconds, cpu = timed(lambda p=predictor: p.set_image(image), runs, dev)
        rows.append(row(name, "naive peer: stock SamPredictor fp32", seconds * 1000, "ms", label,
                        "segment-anything 1.0 as shipped" + ("" if cuda else f"; {cpu:.1f} s CPU time")))
        del stock, predictor
        if cuda:
            torch.cuda.empty_cache()
    return rows


def _old_serial_embed(items: list[tuple[str, Path]], cache_root: Path, model_type: str, device: Any) -> int:
    """The embed job as it was: per image load, SamSegmenter's old encoder step (float32 eager
    with segment-anything's attention on a CPU; bf16 autocast + SDPA on CUDA), ``.cpu()``, and a
    cache put that lists the folder to evict. Returns the images computed."""
    import torch

    from studio.images import load_rgb
    from studio.segment.base import Embedding
    from studio.segment.cache import EmbeddingCache
    from studio.segment.sam import SamSegmenter

    cuda = device.type == "cuda"
    segmenter = SamSegmenter(model_type, None, device=str(device), sdpa=cuda, precision="fp32", compile=False)
    cache = EmbeddingCache(cache_root, 10**12, memory_items=16)
    model = segmenter.model

    def compute(image: np.ndarray) -> Embedding:
        with torch.inference_mode():
            resized = segmenter.transform.apply_image(image)
            x = torch.as_tensor(resized, device=device).permute(2, 0, 1).contiguous()[None]
            pixels = model.preprocess(x)
            if cuda:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    features = model.image_encoder(pixels)
            else:
                features = model.image_encoder(pixels)
            features = features.float().cpu().numpy()
        return Embedding(segmenter.id, image.shape[:2], {"features": features,
                                                         "input_size": np.array(resized.shape[:2], np.int32)})

    for content_hash, path in items:
        cache.get_or_compute(segmenter, content_hash, lambda p=path: compute(load_rgb(p)))
    return len(items)


def embed_job_rows(n_images: int = 64, model_type: str = "vit_b", device: str | None = None,
                   root: Path | None = None) -> list[Row]:
    """The ``embed`` job path (images/s) against the old serial path, same images, same model."""
    import os

    from sqlmodel import select

    from studio.config import get_settings
    from studio.datasets import ingest_doc, resolve_stored_path
    from studio.db import session_scope
    from studio.demo import generate_demo
    from studio.device import resolve_device
    from studio.jobs.context import LocalContext
    from studio.jobs.kinds import EmbedSpec
    from studio.segment.cache import get_cache
    from studio.segment.registry import clear_choices
    from studio.segment.sam import clear_models
    from studio.tables import Image

    root = root or throwaway_studio("studio-bench-embed-")
    dev = resolve_device(device)
    label = _device_label(dev)
    os.environ["STUDIO_DEVICE"] = str(dev)
    get_settings.cache_clear()
    clear_choices()
    ingest_doc(generate_demo(root / "embed-demo", n_images=n_images, seed=7), dataset="embed-bench")
    with session_scope() as session:
        items = [(h, resolve_stored_path(p)) for h, p in session.exec(
            select(Image.content_hash, Image.stored_path).order_by(Image.id)).all()]
    name = f"dataset embedding, SAM {model_type} ({n_images} images 640x480)"
    lines: list[str] = []
    started = time.perf_counter()
    result = EmbedSpec(dataset="embed-bench", segmenter=f"random-{model_type}").run(LocalContext(log=lines.append))
    total = time.perf_counter() - started
    assert result.computed == n_images and get_cache().info().entries >= n_images, (result, lines)
    rows = [row(name, f"embed job (batch {result.batch_size})", result.images_per_second, "img/s", label,
                f"decode + encode + store overlapped; warm-up {result.warmup_seconds:.1f} s not counted; "
                f"{n_images / total:.2f} img/s counting it")]
    clear_models()
    started = time.perf_counter()
    _old_serial_embed(items, root / "old-cache", model_type, dev)
    seconds = time.perf_counter() - started
    rows.append(row(name, "old serial path", n_images / seconds, "img/s", label,
                    "one image at a time: decode, encode, .cpu(), npz write; model build included"))
    clear_models()
    return rows


def print_rows(rows: list[Row]) -> None:
    print(f"{'row':58} {'variant':38} {'value':>10} {'unit':7} note")
    for r in rows:
        value = "not measured" if r["value"] is None else f"{r['value']:10.4g}" if r["value"] < 1000 else \
            f"{r['value']:10.0f}"
        print(f"{r['row']:58} {r['variant']:38} {value:>10} {r['unit']:7} {r['note']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="vit_b only, 1 run, 2 images")
    parser.add_argument("--models", default="vit_b,vit_h")
    parser.add_argument("--images", type=int, default=None, help="images of the embed job rows (CPU: 4, CUDA: 64)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-job", action="store_true")
    args = parser.parse_args()
    root = throwaway_studio("studio-bench-embed-")
    import torch

    from studio.device import resolve_device

    device = resolve_device("auto")
    print(f"torch {torch.__version__} on {_device_label(device)}")
    models = ("vit_b",) if args.quick else tuple(m for m in args.models.split(",") if m)
    runs = 1 if args.quick else args.runs
    rows = sam_embedding_rows(models, runs)
    if device.type != "cuda":
        rows.append(row("SAM embedding on CUDA", "all variants", None, "", "cuda", "not measured: no device lent"))
    print_rows(rows)
    if not args.skip_job:
        n = args.images or (2 if args.quick else 4 if device.type != "cuda" else 64)
        job = embed_job_rows(n, root=root)
        print_rows(job)


if __name__ == "__main__":
    main()
