"""Video files for the live page: a file stands in for the webcam (same pipeline), and
``.y4m`` files feed Chromium's fake webcam in tests.

Frames are (H, W, 3) uint8 RGB throughout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from studio.errors import InvalidInput


def write_y4m(path: Path, frames: list[np.ndarray] | Iterator[np.ndarray], fps: int = 15) -> Path:
    """Write RGB frames as a YUV4MPEG2 file (4:2:0, 'C420jpeg'), the format Chromium's
    ``--use-file-for-fake-video-capture`` reads. Even width and height required."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    header_written = False
    with tmp.open("wb") as f:
        for frame in frames:
            h, w = frame.shape[:2]
            if not header_written:
                if h % 2 or w % 2:
                    raise InvalidInput(f"y4m frames: expected even width and height, got {w}x{h}")
                f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
                header_written = True
            yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)  # (H * 3/2, W): Y plane, then U and V
            f.write(b"FRAME\n")
            f.write(yuv.tobytes())
    if not header_written:
        tmp.unlink(missing_ok=True)
        raise InvalidInput("y4m: expected at least one frame")
    os.replace(tmp, path)
    return path


def read_frames(path: Path, *, max_side: int | None = None, realtime: bool = False,
                loop: bool = False) -> Iterator[np.ndarray]:
    """Frames of a video file (any format OpenCV reads), optionally downscaled to ``max_side``
    and paced at the file's frame rate (``realtime``: like a camera, so a slow model drops frames)."""
    path = Path(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InvalidInput(f"{path}: not a readable video file (expected mp4, avi, webm, y4m ...)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 15.0
    period = 1.0 / fps if fps > 0 else 1 / 15
    try:
        first = True
        next_time = time.monotonic()
        while True:
            ok, bgr = capture.read()
            if not ok:
                if loop and not first:
                    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                if first:
                    raise InvalidInput(f"{path}: the video has no readable frames")
                return
            first = False
            frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if max_side and max(frame.shape[:2]) > max_side:
                scale = max_side / max(frame.shape[:2])
                frame = cv2.resize(frame, (round(frame.shape[1] * scale), round(frame.shape[0] * scale)),
                                   interpolation=cv2.INTER_AREA)
            if realtime:
                next_time += period
                delay = next_time - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield frame
    finally:
        capture.release()


def moving_scene_frames(n: int, width: int = 640, height: int = 480, seed: int = 0) -> Iterator[np.ndarray]:
    """A demo shelf scene panning sideways: camera-like test input with real objects in it."""
    from studio.demo import render_scene, scene_rng

    image, _ = render_scene(scene_rng(seed, 0), width + 2 * n, height)
    for i in range(n):
        yield np.ascontiguousarray(image[:, 2 * i: 2 * i + width])
