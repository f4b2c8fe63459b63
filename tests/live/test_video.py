"""Video files: a y4m written for Chromium's fake webcam reads back frame for frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.errors import InvalidInput
from studio.live.video import moving_scene_frames, read_frames, write_y4m


def test_y4m_round_trip_keeps_the_pictures(tmp_path: Path) -> None:
    frames = list(moving_scene_frames(5, 160, 120))
    path = write_y4m(tmp_path / "cam.y4m", frames, fps=10)
    assert path.read_bytes().startswith(b"YUV4MPEG2 W160 H120 F10:1")
    back = list(read_frames(path))
    assert len(back) == 5 and back[0].shape == (120, 160, 3)
    error = np.abs(back[2].astype(int) - frames[2].astype(int)).mean()
    assert error < 6  # 4:2:0 chroma subsampling only
    assert not np.array_equal(back[0], back[4])  # the scene pans


def test_bad_video_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="even width and height"):
        write_y4m(tmp_path / "odd.y4m", [np.zeros((11, 10, 3), np.uint8)])
    assert not (tmp_path / "odd.y4m").exists()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(InvalidInput, match="not a readable video"):
        next(read_frames(junk))
