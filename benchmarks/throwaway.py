"""A throw-away studio for benchmark scripts: never the user's database or model folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def throwaway_studio(prefix: str = "studio-bench-", root: Path | None = None) -> Path:
    """Point this process at a fresh studio in ``root`` (default: a new temporary folder named
    ``prefix...``), before anything reads the settings; create its database. Returns the folder."""
    from studio.config import folder_env, get_settings
    from studio.db import migrate

    root = root or Path(tempfile.mkdtemp(prefix=prefix))
    root.mkdir(parents=True, exist_ok=True)
    os.environ.update(folder_env(root))
    get_settings.cache_clear()
    migrate()
    return root
