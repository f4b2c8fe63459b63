"""Settings from the environment (``STUDIO_*``), with defaults for a single machine."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the studio keeps its data and how it reaches its database and queue."""

    model_config = SettingsConfigDict(env_prefix="STUDIO_", extra="ignore")

    db_url: str = Field("sqlite:///annotations.db", description="SQLAlchemy URL of the studio database")
    queue_url: str | None = Field(
        None, description="huey storage: sqlite:///path or redis://host:port/db; default <data_dir>/queue.db"
    )
    data_dir: Path = Field(Path("data"), description="image store, exports, uploads, job logs")
    models_dir: Path = Field(Path("models"), description="model store (checkpoints, SAM weights)")
    device: Literal["auto", "cpu", "cuda", "mps"] | str = Field("auto", description="torch device or 'auto'")
    max_image_pixels: int = Field(
        200_000_000, description="images with more pixels are refused (decompression-bomb guard)"
    )
    author: str = Field("", description="annotator name recorded on annotations; default the OS user")
    sam_model: str = Field(
        "auto", description="segmenter for click labelling: auto | vit_b | vit_l | vit_h | fallback "
        "(auto: a SAM checkpoint found in <models_dir>/sam/, else the OpenCV fallback)"
    )
    embedding_cache_mb: int = Field(2048, description="disk budget of the embedding cache (oldest evicted first)")
    embedding_memory_items: int = Field(16, description="embeddings kept in memory (LRU) per process")

    turn_url: str = Field("", description="TURN server for the live page when the studio is used remotely "
                          "(turn:host:3478); empty = no ICE servers (localhost needs none)")
    turn_username: str = Field("", description="TURN user name")
    turn_credential: str = Field("", description="TURN password")

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
        "STUDIO_DB_URL": f"sqlite:///{root / 'annotations.db'}",
        "STUDIO_DATA_DIR": str(root / "data"),
        "STUDIO_MODELS_DIR": str(root / "models"),
        "STUDIO_QUEUE_URL": f"sqlite:///{root / 'data' / 'queue.db'}",
    }
