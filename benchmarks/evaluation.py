"""Evaluation figures (prints them; not a test).

    python benchmarks/evaluation.py [--images 1000] [--size 512] [--classes 20] [--repeat 3]
                                    [--skip-torchmetrics]

1. the pooled confusion matrix of N label maps (one ``confusion_matrix`` call on (N, H, W));
2. the same N maps image by image through ``ConfusionAccumulator`` (pooled + every per-image
   matrix, as the evaluation job stores them);
3. torchmetrics ``MulticlassConfusionMatrix(C, ignore_index=255)`` on the same data, with its
   default argument validation and with ``validate_args=False`` (batches of 50 maps);
   each result is checked equal to ours.

Times are the best of ``--repeat`` runs (the machine may be shared). Data: uint8 label maps
with blocky regions, a 4-row ignore (255) border, and 10 % of prediction pixels flipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.evaluation.metrics import IGNORE_INDEX, ConfusionAccumulator, confusion_matrix  # noqa: E402


def make_label_maps(images: int, size: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(gt, pred)``: ``(images, size, size)`` uint8; gt has 255 in its top 4 rows."""
    rng = np.random.default_rng(seed)
    cell = 32
    cells = -(-size // cell)
    gt = np.empty((images, size, size), np.uint8)
    pred = np.empty_like(gt)
    for i in range(images):  # one image at a time keeps the temporaries small
        blocks = rng.integers(0, classes, (cells, cells), dtype=np.uint8)
        gt[i] = np.repeat(np.repeat(blocks, cell, 0), cell, 1)[:size, :size]
        flip = rng.random((size, size)) < 0.1
        pred[i] = np.where(flip, rng.integers(0, classes, (size, size), dtype=np.uint8), gt[i])
        gt[i, :4] = IGNORE_INDEX
    return gt, pred


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """``(best seconds, last result)`` of ``repeat`` runs of ``fn``."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def pooled(gt: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    return confusion_matrix(gt, pred, classes)


def per_image(gt: np.ndarray, pred: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pooled, (N, C, C) per-image matrices)`` image by image."""
    acc = ConfusionAccumulator(classes)
    matrices = np.stack([acc.update(g, p) for g, p in zip(gt, pred)])
    return acc.pooled, matrices


def torchmetrics_pooled(gt: np.ndarray, pred: np.ndarray, classes: int, validate: bool, batch: int = 50) -> np.ndarray:
    import torch
    from torchmetrics.classification import MulticlassConfusionMatrix

    metric = MulticlassConfusionMatrix(classes, ignore_index=IGNORE_INDEX, validate_args=validate)
    for start in range(0, len(gt), batch):
        metric.update(torch.from_numpy(pred[start:start + batch]), torch.from_numpy(gt[start:start + batch]))
    return metric.compute().numpy()


def run(images: int, size: int, classes: int, repeat: int, skip_torchmetrics: bool) -> list[tuple[str, float]]:
    """Print and return ``(label, seconds)`` rows."""
    import torch

    print(f"{images} label maps {size}x{size}, {classes} classes; {os.cpu_count()} CPU cores, "
          f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    start = time.perf_counter()
    gt, pred = make_label_maps(images, size, classes)
    print(f"  {'make data (setup, not a target)':62} {time.perf_counter() - start:7.3f} s")
    pixels = gt.size
    rows: list[tuple[str, float]] = []

    def row(label: str, seconds: float) -> None:
        rows.append((label, seconds))
        print(f"  {label:62} {seconds:7.3f} s  {pixels / seconds / 1e6:7.0f} Mpx/s", flush=True)

    seconds, reference = best_time(lambda: pooled(gt, pred, classes), repeat)
    row("studio confusion_matrix (N, H, W), pooled", seconds)
    seconds, (acc_pooled, matrices) = best_time(lambda: per_image(gt, pred, classes), repeat)
    assert (acc_pooled == reference).all() and (matrices.sum(0) == reference).all()
    row("studio ConfusionAccumulator, pooled + per-image matrices", seconds)
    if not skip_torchmetrics:
        for validate in (True, False):
            seconds, theirs = best_time(lambda: torchmetrics_pooled(gt, pred, classes, validate), 1)
            assert (theirs == reference).all(), "torchmetrics disagrees"
            row(f"torchmetrics MulticlassConfusionMatrix (validate_args={validate})", seconds)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs (ours)")
    parser.add_argument("--skip-torchmetrics", action="store_true")
    args = parser.parse_args()
    run(args.images, args.size, args.classes, args.repeat, args.skip_torchmetrics)


if __name__ == "__main__":
    main()
