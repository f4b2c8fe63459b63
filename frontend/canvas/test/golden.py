"""Writes test/golden.json: reference values from pycocotools, studio.segment.low_res.seed_logits,
PyTorch's bilinear resize (SAM's postprocess_masks) and segment-anything's ResizeLongestSide,
for the TypeScript unit tests. Run once from the repository root (the output is checked in):

    .venv/bin/python frontend/canvas/test/golden.py

Every mask and logit field is a closed formula the tests rebuild in TypeScript (integer
arithmetic or IEEE-exact float64 operations in the same order), so only the answers are stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pycocotools import mask as mask_utils
from segment_anything.utils.transforms import ResizeLongestSide

from studio.segment.low_res import seed_logits

OUT = Path(__file__).with_name("golden.json")


def masks() -> dict[str, np.ndarray]:
    """Named (H, W) bool masks; test/shapes.ts builds the same ones."""
    out: dict[str, np.ndarray] = {}
    y, x = np.mgrid[0:37, 0:53]
    out["pattern"] = (x * 7 + y * 13) % 11 < 4
    y, x = np.mgrid[0:120, 0:90]
    out["disc"] = (x - 40) ** 2 + (y - 70) ** 2 < 900
    out["empty"] = np.zeros((10, 12), bool)
    out["full"] = np.ones((8, 9), bool)
    m = np.zeros((5, 7), bool)
    m[0, 0] = True
    out["first"] = m
    m = np.zeros((5, 7), bool)
    m[4, 6] = True
    out["last"] = m
    y, x = np.mgrid[0:64, 0:64]
    out["stripes"] = (x % 3 == 0) & (y % 5 != 0)
    y, x = np.mgrid[0:300, 0:50]
    out["tall"] = (x > 10) & (y > 20) & (x + y < 200)
    y, x = np.mgrid[0:4000, 0:6000]
    out["big"] = ((x >= 1000) & (x < 4500) & (y >= 500) & (y < 3000)) | ((x - 5000) ** 2 + (y - 3500) ** 2 < 160000)
    return out


def lowres(kind: int) -> np.ndarray:
    """(256, 256) float32 logits; test/shapes.ts has the same formula."""
    i, j = np.mgrid[0:256, 0:256].astype(np.float64)
    if kind == 0:
        v = 20.0 - ((i - 120.0) * (i - 120.0) + (j - 100.0) * (j - 100.0) * 0.6) / 150.0 + ((i * j) % 17.0) * 0.05
    else:
        v = 6.0 - ((i - 40.0) * (i - 40.0) + (j - 200.0) * (j - 200.0)) / 40.0
    return v.astype(np.float32)


def postprocess(logits: np.ndarray, input_size: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """segment-anything Sam.postprocess_masks(...) > 0 for one mask."""
    t = torch.from_numpy(logits)[None, None]
    t = F.interpolate(t, (1024, 1024), mode="bilinear", align_corners=False)
    t = t[..., : input_size[0], : input_size[1]]
    t = F.interpolate(t, size, mode="bilinear", align_corners=False)
    return (t[0, 0] > 0).numpy()


def rle(mask: np.ndarray) -> str:
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode("ascii")


def main() -> None:
    golden: dict = {"rle": {}, "mask_to_logits": {}, "postprocess": [], "apply_coords": []}
    shapes = masks()
    for name, m in shapes.items():
        encoded = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        golden["rle"][name] = {"size": list(m.shape), "counts": encoded["counts"].decode("ascii"),
                               "area": int(mask_utils.area(encoded)), "bbox": [int(v) for v in mask_utils.toBbox(encoded)]}
    for name in ("disc", "pattern", "tall", "big", "first", "full"):
        golden["mask_to_logits"][name] = rle(seed_logits(shapes[name])[0] > 0)
    transform = ResizeLongestSide(1024)
    for kind, (h, w) in [(0, (97, 130)), (0, (2560, 1920)), (1, (4000, 6000)), (0, (1024, 1024)), (1, (333, 500))]:
        input_size = transform.get_preprocess_shape(h, w, 1024)
        golden["postprocess"].append({"kind": kind, "size": [h, w], "input_size": list(input_size),
                                      "rle": rle(postprocess(lowres(kind), input_size, (h, w)))})
    for h, w in [(2560, 1920), (4000, 6000), (97, 130)]:
        points = np.array([[0, 0], [w - 1, h - 1], [w / 3, h / 7], [123.5, 45.25]], np.float32)
        golden["apply_coords"].append({"size": [h, w], "points": points.tolist(),
                                       "coords": transform.apply_coords(points, (h, w)).astype(np.float32).tolist()})
    OUT.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
