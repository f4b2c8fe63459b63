"""Disk per training run: what one short UNet-resnet18 run leaves in ``data/runs/<run>/`` and in
``models/<task>/<name>/`` (files hard-linked between the two are counted once), and the
checkpoint sizes (``best.pt``: weights; ``last.pt``: the resume state).

    .venv/bin/python benchmarks/run_disk.py [--epochs 1]

Runs on CPU in a throw-away studio (6 demo scenes at 64 px; the disk figures do not depend
on the data size).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throwaway import throwaway_studio  # noqa: E402


def disk_bytes(*folders: Path) -> int:
    """Bytes of the files under ``folders``, each inode counted once (hard links share one)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                st = path.stat()
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    root = throwaway_studio("studio-disk-")
    try:
        from studio.datasets import ingest_doc
        from studio.demo import generate_demo
        from studio.registry import model_dir
        from studio.training.config import TrainConfig
        from studio.training.run import run_dir_for, run_training

        ingest_doc(generate_demo(root / "demo", n_images=6, seed=1, width=160, height=120), dataset="shelves")
        config = TrainConfig(architecture="unet", backbone="resnet18", dataset="shelves", epochs=args.epochs,
                             batch_size=4, image_size=64, num_workers=0)
        outcome = run_training(config, "disk")
        run_dir, folder = run_dir_for("disk"), model_dir(outcome.version)
        mb = 1e6
        for label, path in [("run dir", run_dir), ("model folder", folder)]:
            for f in sorted(path.iterdir()):
                if f.is_file():
                    print(f"  {label:12} {f.name:48} {f.stat().st_size / mb:8.1f} MB  links {os.stat(f).st_nlink}")
        print(f"run dir {disk_bytes(run_dir) / mb:.1f} MB, model folder {disk_bytes(folder) / mb:.1f} MB, "
              f"together (hard links once) {disk_bytes(run_dir, folder) / mb:.1f} MB")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
