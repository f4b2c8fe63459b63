"""`studio pull sam-vit-b|l|h`, `studio cache info|clear`, `studio embed DATASET`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the segmenter commands to ``app`` (filled in by the segment feature)."""
