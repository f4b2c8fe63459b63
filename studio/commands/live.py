"""`studio pull mediapipe`: the MediaPipe hand and pose landmarkers of the sign-language demo.

``studio pull`` (studio.commands.segment) runs whatever is registered in
``studio.segment.pull.PULLERS``; this module registers ``mediapipe`` there. The download itself
(``studio.live.landmarks.pull_mediapipe``) is imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import typer

from studio.progress import ProgressFn

DESCRIPTION = ("MediaPipe hand + pose (lite) landmarkers for the sign demo: hand_landmarker.task, "
               "pose_landmarker.task (~13 MB) into <models_dir>/mediapipe")


def _pull_mediapipe(dest: Path | None, progress: ProgressFn) -> Path:
    from studio.live.landmarks import pull_mediapipe

    return pull_mediapipe(dest, progress)


def register(app: typer.Typer) -> None:
    """Make ``studio pull mediapipe`` download the landmarkers (the ``pull`` command itself is segment's)."""
    from studio.segment.pull import register_puller

    register_puller("mediapipe", DESCRIPTION, _pull_mediapipe)
