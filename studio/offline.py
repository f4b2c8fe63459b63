"""Keep every library offline at run time: the one place that sets their switches.

Imported by ``studio/__init__.py`` so it runs before any caller can import ultralytics,
albumentations, huggingface_hub or streamlit. Values already in the environment win.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

OFFLINE_ENV: dict[str, str] = {
    "YOLO_OFFLINE": "1",  # ultralytics: no hub, no GitHub asset lookups
    "YOLO_AUTOINSTALL": "0",  # ultralytics: never pip-install missing requirements
    "NO_ALBUMENTATIONS_UPDATE": "1",  # albumentations: no version check on import
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",  # timm/smp pretrained weights only from the local cache
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
}

# streamlit's command-line flags for the same purpose (used by `studio serve`).
STREAMLIT_OFFLINE_FLAGS: list[str] = [
    "--browser.gatherUsageStats",
    "false",
    "--server.headless",
    "true",
]


def _bundled_ttf() -> Path | None:
    """A TrueType font that ships with matplotlib (an ultralytics dependency), found without importing it."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    font = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    return font if font.is_file() else None


def prepare_ultralytics_config(config_dir: Path) -> Path:
    """Write ultralytics' settings (``sync: false``) and a local ``Arial.ttf`` into ``config_dir``.

    Without the font, ultralytics downloads Arial.ttf when it plots during training even
    with ``YOLO_OFFLINE=1``. Returns the folder ultralytics will read (``<dir>/Ultralytics``).
    """
    target = config_dir / "Ultralytics"
    target.mkdir(parents=True, exist_ok=True)
    settings = target / "settings.json"
    if not settings.exists():
        tmp = settings.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"sync": False, "hub": False}, indent=2))
        tmp.replace(settings)
    font = target / "Arial.ttf"
    source = _bundled_ttf()
    if not font.exists() and source is not None:
        shutil.copyfile(source, font)
    return target


def apply_offline_env(config_dir: Path | None = None) -> None:
    """Set the offline switches (without overriding values the user exported).

    ``config_dir`` is where ultralytics keeps its settings; default ``~/.cache/studio``.
    """
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    if "YOLO_CONFIG_DIR" not in os.environ:
        config_dir = config_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "studio"
        try:
            prepare_ultralytics_config(config_dir)
            os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
        except OSError:  # read-only home: ultralytics falls back to its own temp dir
            pass
