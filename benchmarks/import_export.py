"""Import / export figures (prints them; not a test).

    python benchmarks/import_export.py [--images 1000] [--masks 10000] [--keep DIR]

1. folder import of N generated 640x480 JPEGs into a fresh studio (hash, full decode check,
   copy into the content-addressed store, database rows);
2. COCO export of M masks, RLE mode and polygon mode, each including the read-back check;
3. COCO import of that file: parse + validate + convert, then into the database.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throwaway import throwaway_studio  # noqa: E402


def _timed(label: str, fn, results: list[tuple[str, float, str]], detail=lambda r, s: ""):  # noqa: ANN001, ANN202
    """Run ``fn`` once, record and print its wall time and ``detail(result, seconds)``."""
    start = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - start
    text = detail(value, seconds)
    results.append((label, seconds, text))
    print(f"  {label:55} {seconds:7.2f} s  {text}", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--masks", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="work in this folder (kept) instead of a temp dir")
    args = parser.parse_args()
    work = throwaway_studio("studio-bench-", args.keep)

    from studio.demo import generate_demo
    from studio.formats.coco import load_coco, save_coco
    from studio.formats.records import DatasetDoc
    from studio.transfer import export_dataset, import_dataset

    results: list[tuple[str, float, str]] = []
    print(f"work dir {work}; {os.cpu_count()} CPU cores")
    doc = _timed(f"generate {args.images} shelf scenes (setup, not a target)",
                 lambda: generate_demo(work / "gen", n_images=args.images, seed=0), results,
                 lambda d, s: f"{len(d.annotations)} masks")

    _timed(f"import {args.images} JPEGs 640x480 (folder)",
           lambda: import_dataset(fmt="images", source=work / "gen" / "images", dataset="bench_folder"), results,
           lambda r, s: f"{r.images_added} images, {r.images_added / s:.0f} images/s")

    annotations = (doc.annotations * (args.masks // max(len(doc.annotations), 1) + 1))[: args.masks]
    big = DatasetDoc(classes=doc.classes, images=doc.images, annotations=[replace(a) for a in annotations])
    rle = _timed(f"COCO export {len(annotations)} masks, RLE mode (+ check)",
                 lambda: save_coco(big, work / "coco_rle", mode="rle", copy_images=False, force=True), results,
                 lambda r, s: f"checked {r.checked}, min IoU {r.min_iou:.3f}")
    _timed(f"COCO export {len(annotations)} masks, polygon mode (+ check)",
           lambda: save_coco(big, work / "coco_poly", mode="polygon", copy_images=False, force=True), results,
           lambda r, s: f"checked {r.checked}, min IoU {r.min_iou:.3f}, {r.rle_fallbacks} holes kept as RLE")
    json_path = rle.path / "annotations.json" if rle.path.is_dir() else rle.path
    _timed("COCO load of that file (parse + validate + RLE)", lambda: load_coco(json_path, work / "gen"), results,
           lambda d, s: f"{len(d.annotations)} masks")
    _timed("COCO import of that file into the database",
           lambda: import_dataset(fmt="coco", source=json_path, images_root=work / "gen", dataset="bench_coco"),
           results, lambda r, s: f"{r.annotations_added} annotations")
    _timed(f"COCO export from the database ({len(annotations)} masks, RLE)",
           lambda: export_dataset(fmt="coco", dataset="bench_coco", out=work / "db_export", include_images=False,
                                  force=True), results, lambda r, s: f"checked {r.checked}")
    print("\n| step | seconds | detail |\n|---|---:|---|")
    for label, seconds, detail in results:
        print(f"| {label} | {seconds:.2f} | {detail} |")


if __name__ == "__main__":
    main()
