"""Raw-frame clips as arrays: what a clip must be (:func:`check_frames`), shrinking it, and reading
one from a video file (OpenCV), a folder of frame images or an array file.

A clip is (T, H, W, 3) uint8 RGB, T >= 1, H and W >= 8. Used by :mod:`studio.frame_clips` (the
clip datasets) and :mod:`studio.live.frame_recorder` (clips from the camera).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import InvalidInput

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
ARRAY_SUFFIXES = (".npy", ".npz")


def check_frames(frames: Any, what: str = "clip") -> np.ndarray:
    """``frames`` as (T, H, W, 3) uint8 (T >= 1, H, W >= 8); InvalidInput naming the expected and actual."""
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise InvalidInput(f"{what}: expected (T, H, W, 3) RGB frames, got shape {array.shape}")
    if array.dtype != np.uint8:
        raise InvalidInput(f"{what}: expected uint8 pixels, got dtype {array.dtype}")
    if array.shape[0] < 1:
        raise InvalidInput(f"{what}: expected at least one frame, got none")
    if min(array.shape[1:3]) < 8:
        raise InvalidInput(f"{what}: expected frames of at least 8x8 pixels, got {array.shape[2]}x{array.shape[1]}")
    return np.ascontiguousarray(array)


def shrink(frames: np.ndarray, max_side: int) -> np.ndarray:
    """(T, H, W, 3) with the longest side brought down to ``max_side`` (aspect kept; never enlarged)."""
    import cv2

    h, w = frames.shape[1:3]
    if max(h, w) <= max_side:
        return frames
    scale = max_side / max(h, w)
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def read_video(path: Path, max_frames: int = 300) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames of a video file (at most ``max_frames``, taken evenly when longer)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InvalidInput(f"{path}: OpenCV cannot open this video; expected {', '.join(VIDEO_SUFFIXES)} "
                               "with a codec OpenCV reads (H.264, MJPEG ...)")
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise InvalidInput(f"{path}: no frames could be decoded")
    if len(frames) > max_frames:
        frames = [frames[int(k)] for k in np.linspace(0, len(frames) - 1, max_frames).round()]
    return np.stack(frames)


def natural_key(name: str) -> list[Any]:
    """Sort key of a file name in natural order (2.png before 10.png)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def read_frame_folder(folder: Path) -> np.ndarray:
    """(T, H, W, 3) uint8 from a folder of frame images in natural name order; all of one size."""
    from studio.images import load_rgb

    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise InvalidInput(f"{folder}: no frame images; expected {', '.join(IMAGE_SUFFIXES)} files")
    frames = [load_rgb(p) for p in files]
    sizes = {f.shape for f in frames}
    if len(sizes) != 1:
        raise InvalidInput(f"{folder}: frames of different sizes {sorted(sizes)[:3]}; expected one size per clip")
    return np.stack(frames)


def read_clip_array(path: Path) -> np.ndarray:
    """(T, H, W, 3) uint8 from a .npy, or a .npz (its ``frames`` array, else its first)."""
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as data:
                keys = list(data.keys())
                array = data["frames" if "frames" in keys else keys[0]]
        else:
            array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, IndexError) as exc:
        raise InvalidInput(f"{path}: not a readable (T, H, W, 3) array ({str(exc).splitlines()[0][:160]})") from None
    return check_frames(array, str(path))


def read_clip(path: Path) -> np.ndarray:
    """A clip from a video file, a frame folder or an array file."""
    path = Path(path)
    if path.is_dir():
        return read_frame_folder(path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return read_video(path)
    if suffix in ARRAY_SUFFIXES:
        return read_clip_array(path)
    raise InvalidInput(f"{path}: expected a video ({', '.join(VIDEO_SUFFIXES)}), a folder of frame images or a "
                       ".npy/.npz array")
