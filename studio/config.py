"""Settings from the environment (``STUDIO_*``), with defaults for a single machine.

Where the studio lives (``STUDIO_HOME``)
----------------------------------------
Every relative location -- the SQLite file of ``STUDIO_DB_URL`` (default ``annotations.db``),
``STUDIO_DATA_DIR`` (default ``data``), ``STUDIO_MODELS_DIR`` (default ``models``) and a
SQLite ``STUDIO_QUEUE_URL`` -- is resolved against one folder, the studio home, never against
the current folder. So ``studio datasets`` run anywhere, ``make run`` and the app all use the
same database and data. The home is, in this order:

1. ``STUDIO_HOME`` when set (a relative value is taken from the current folder, once);
2. the checkout this package runs from, when it is installed editable from a checkout
   (the folder that holds ``server.py`` and ``pyproject.toml`` beside ``studio/``);
3. otherwise a per-user folder: ``$XDG_DATA_HOME/studio`` (default ``~/.local/share/studio``),
   ``~/Library/Application Support/studio`` on macOS, ``%LOCALAPPDATA%\\studio`` on Windows.

Absolute values are used as they are. :attr:`Settings.home_origin` says which rule chose the home
(error messages name it, so a user can tell where the studio looked).
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_MARKERS = ("server.py", "pyproject.toml")  # beside studio/ in a checkout (editable install)


def checkout_dir() -> Path | None:
    """The source checkout this package runs from (editable install), or None (installed wheel)."""
    root = PACKAGE_DIR.parent
    return root if all((root / marker).is_file() for marker in CHECKOUT_MARKERS) else None


def user_home_dir() -> Path:
    """The per-user studio folder of this platform (used when not running from a checkout)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "studio"


def default_home() -> tuple[Path, str]:
    """The home without ``STUDIO_HOME``: (folder, why it was chosen)."""
    checkout = checkout_dir()
    if checkout is not None:
        return checkout, "the checkout this studio is installed from"
    return user_home_dir(), "the per-user studio folder"


def anchor_path(path: Path, home: Path) -> Path:
    """``path`` itself when absolute (after ``~`` expansion), else ``home / path``."""
    path = path.expanduser()
    return path if path.is_absolute() else home / path


def anchor_sqlite_url(url: str, home: Path) -> str:
    """A ``sqlite:///relative.db`` URL made absolute against ``home``; any other URL as is
    (absolute SQLite paths, in-memory ``sqlite://`` / ``:memory:``, ``file:`` URIs, non-SQLite)."""
    scheme, sep, rest = url.partition(":///")
    if not sep or not scheme.startswith("sqlite"):
        return url
    path, qmark, query = rest.partition("?")
    if not path or path.startswith((":memory:", "file:")):
        return url
    return f"{scheme}:///{anchor_path(Path(path), home).as_posix()}{qmark}{query}"


class Settings(BaseSettings):
    """Where the studio keeps its data and how it reaches its database and queue."""

    model_config = SettingsConfigDict(env_prefix="STUDIO_", extra="ignore")

    home: Path | None = Field(None, description="the folder relative locations below are resolved against "
                              "(default: the checkout of an editable install, else a per-user folder)")
    db_url: str = Field("sqlite:///annotations.db", description="SQLAlchemy URL of the studio database "
                        "(a relative SQLite path is inside the home)")
    queue_url: str | None = Field(
        None, description="huey storage: sqlite:///path or redis://host:port/db; default <data_dir>/queue.db"
    )
    data_dir: Path = Field(Path("data"), description="image store, exports, uploads, job logs (relative: in the home)")
    models_dir: Path = Field(Path("models"), description="model store (checkpoints, SAM weights; relative: in the home)")
    device: Literal["auto", "cpu", "cuda", "mps"] | str = Field("auto", description="torch device or 'auto'")
    compile: Literal["auto", "on", "off"] = Field(
        "auto", description="torch.compile for inference (studio.inference.compiled): auto = on CUDA only, "
        "on = also on CPU, off = eager everywhere"
    )
    max_image_pixels: int = Field(
        200_000_000, description="images with more pixels are refused (decompression-bomb guard)"
    )
    author: str = Field("", description="annotator name recorded on annotations when nobody is logged in "
                        "(no users configured); default the OS user")
    session_hours: float = Field(12.0, description="a login lasts this long (the session cookie's expiry)")
    lease_s: float = Field(600.0, description="an annotator's hold on the image they opened ends after this "
                           "many seconds without renewal (studio.leases)")
    sam_model: str = Field(
        "auto", description="segmenter for click labelling: auto | vit_b | vit_l | vit_h | fallback "
        "(auto: a SAM checkpoint found in <models_dir>/sam/, else the OpenCV fallback)"
    )
    embedding_cache_mb: int = Field(2048, description="disk budget of the embedding cache (oldest evicted first)")
    embedding_memory_items: int = Field(16, description="embeddings kept in memory (LRU) per process")
    cross_origin_isolation: bool = Field(True, description="COOP/COEP headers on the app's pages, so the labelling "
                                         "canvas decodes SAM with several browser threads (studio_ui.web.isolation)")
    worker_timeout_s: float = Field(15.0, description="a worker not heard from for this long is taken for dead: "
                                    "other workers put its running jobs back on the queue")

    turn_url: str = Field("", description="TURN server for the live page when the studio is used remotely "
                          "(turn:host:3478); empty = no ICE servers (localhost needs none)")
    turn_username: str = Field("", description="TURN user name")
    turn_credential: str = Field("", description="TURN password")

    _home_origin: str = PrivateAttr("")

    @model_validator(mode="after")
    def _anchor(self) -> Settings:
        """Resolve the home, then every relative location against it (module docstring)."""
        if self.home is None:
            self.home, self._home_origin = default_home()
        else:
            self._home_origin = "STUDIO_HOME"
            self.home = self.home.expanduser().resolve()
        self.db_url = anchor_sqlite_url(self.db_url, self.home)
        if self.queue_url:
            self.queue_url = anchor_sqlite_url(self.queue_url, self.home)
        self.data_dir = anchor_path(self.data_dir, self.home)
        self.models_dir = anchor_path(self.models_dir, self.home)
        return self

    @property
    def home_origin(self) -> str:
        """Why :attr:`home` is where it is: ``STUDIO_HOME``, the checkout, or the per-user folder."""
        return self._home_origin

    @property
    def rtc_configuration(self) -> dict:
        """WebRTC configuration of the live page: no ICE servers unless a TURN server is set."""
        if not self.turn_url:
            return {"iceServers": []}
        return {"iceServers": [{"urls": [self.turn_url], "username": self.turn_username,
                                "credential": self.turn_credential}]}

    @property
    def resolved_queue_url(self) -> str:
        """The queue URL, defaulting to a SQLite file next to the data."""
        return self.queue_url or f"sqlite:///{(self.data_dir / 'queue.db').as_posix()}"

    @property
    def store_dir(self) -> Path:
        """Content-addressed image store."""
        return self.data_dir / "store"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def embeddings_dir(self) -> Path:
        """Content-addressed embedding cache (``<segmenter id>/<image hash>.npz``)."""
        return self.data_dir / "embeddings"

    @property
    def sam_dir(self) -> Path:
        """Where SAM checkpoints live under their official names."""
        return self.models_dir / "sam"

    @property
    def session_key_file(self) -> Path:
        """The key that signs login cookies (created once, mode 0600; studio.sessions)."""
        return self.data_dir / "session.key"

    @property
    def jobs_dir(self) -> Path:
        """Per-job log files of the worker's child processes."""
        return self.data_dir / "jobs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()


def folder_env(root: Path) -> dict[str, str]:
    """The STUDIO_* variables of a self-contained studio in ``root`` (database, data, models
    and queue inside it): tests, benchmarks and smoke runs point a process (or a subprocess)
    at a throw-away studio with these."""
    return {
        "STUDIO_HOME": str(root),
        "STUDIO_DB_URL": f"sqlite:///{root / 'annotations.db'}",
        "STUDIO_DATA_DIR": str(root / "data"),
        "STUDIO_MODELS_DIR": str(root / "models"),
        "STUDIO_QUEUE_URL": f"sqlite:///{root / 'data' / 'queue.db'}",
    }
