"""Classical classifier figures: feature throughput (crops/s, vectorised batches on a thread pool)
and a whole train job of ``classical_svm`` / ``classical_rf`` on generated shelf scenes (object
crops of five product classes): wall time, val accuracy, and the same with shuffled labels
(chance level, ~0.2) as a check that the score means something.

    .venv/bin/python benchmarks/classical.py [--images 48] [--size 64]

Runs on CPU in a throw-away studio.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throwaway import throwaway_studio  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    root = throwaway_studio("studio-classical-")
    try:
        from studio.datasets import ingest_doc, snapshot
        from studio.demo import DEMO_CLASSES, generate_demo
        from studio.nets.classical_features import batch_features
        from studio.training.config import TrainConfig
        from studio.training.run import run_training

        rng = np.random.default_rng(0)
        crops = [rng.integers(0, 256, (int(rng.integers(40, 160)), int(rng.integers(40, 160)), 3), dtype=np.uint8)
                 for _ in range(1000)]
        batch_features(crops[:10], args.size)  # imports, warm-up
        started = time.perf_counter()
        batch_features(crops, args.size)
        print(f"features at {args.size}x{args.size}: {1000 / (time.perf_counter() - started):.0f} crops/s")
        for shuffled in (False, True):
            doc = generate_demo(root / f"demo{shuffled}", n_images=args.images, seed=2)
            if shuffled:
                pick = random.Random(0)
                for ann in doc.annotations:
                    ann.class_name = pick.choice(DEMO_CLASSES).name
            name = "shuffled" if shuffled else "shelves"
            ingest_doc(doc, dataset=name)
            version = snapshot(name).version
            for architecture in ("classical_svm", "classical_rf"):
                config = TrainConfig(task="classification", architecture=architecture, backbone="", dataset=name,
                                     dataset_version=version, image_size=args.size)
                started = time.perf_counter()
                outcome = run_training(config, f"{name}-{architecture}", register=False)
                print(f"{architecture:14} {'shuffled labels' if shuffled else 'real labels':16} "
                      f"{time.perf_counter() - started:5.1f} s  val accuracy {outcome.result.best_metric:.3f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
