"""Feature commands of `studio ...`, one module per feature, registered on the main app.

Each module listed in :data:`FEATURE_MODULES` defines ``register(app: typer.Typer) -> None``
that adds its commands or sub-apps (``studio pull``, ``studio cache``, ``studio train`` ...).
Modules must import cheaply: heavy imports (torch, models) go inside the command bodies,
so ``studio --help`` stays fast. Shared helpers for command bodies live in
``studio.commands.common``.
"""

from __future__ import annotations

import importlib

import typer

FEATURE_MODULES: tuple[str, ...] = (
    "studio.commands.segment",  # pull sam-*, cache info | clear, embed
    "studio.commands.models",  # train, tune, models list | show | import | remove | cleanup
    "studio.commands.modelops",  # evaluate, evaluations [list | report], compare, export onnx | torchscript, bench,
    # prelabel
    "studio.commands.release",  # models promote | production | gate | bundle
    "studio.commands.active",  # rank, todo (active learning)
    "studio.commands.keypoints",  # keypoints import | list | show | snapshot | demo
    "studio.commands.frames",  # frames import | list | snapshot (raw-frame clips for frame_cnn_gru)
    "studio.commands.live",  # pull mediapipe
    "studio.commands.classes",  # classes list | add | rename | recolor | reorder | merge | remove
    "studio.commands.users",  # users add | list | passwd | role | email | disable | enable | remove | assign ...
)


def register_all(app: typer.Typer) -> None:
    """Let every feature module add its commands to ``app``."""
    for name in FEATURE_MODULES:
        importlib.import_module(name).register(app)
