"""`studio pull ...`: download model weights on request (never otherwise), verified.

A download goes to a temp name in the target folder, is hashed while it streams, and is
renamed to its final name only when the checksums match; on any failure nothing is left
behind. Without a network the error says exactly which file to put where.

SAM checksums (checked against several independent public listings): the suffix of each
official file name (``01ec64``, ``0b3195``, ``4b8939``) is the first 6 hex digits of the
file's **MD5**, not of its SHA-256. Both are verified: the full SHA-256 below and the MD5
prefix from the name.

Other features add their own downloads to :data:`PULLERS` with :func:`register_puller`
(e.g. ``register_puller("mediapipe", "...", pull_mediapipe)``); ``studio pull NAME`` runs
whichever is registered under NAME.
"""

from __future__ import annotations

import hashlib
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput, StudioError
from studio.progress import ProgressFn, null_progress

SAM_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything"


@dataclass(frozen=True)
class SamCheckpoint:
    file: str  # official name
    url: str
    sha256: str  # full SHA-256 of the official file
    md5_prefix: str  # the name's suffix: first 6 hex digits of the file's MD5
    size_mb: int  # approximate, for messages


SAM_CHECKPOINTS: dict[str, SamCheckpoint] = {
    "vit_b": SamCheckpoint("sam_vit_b_01ec64.pth", f"{SAM_BASE_URL}/sam_vit_b_01ec64.pth",
                           "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", "01ec64", 375),
    "vit_l": SamCheckpoint("sam_vit_l_0b3195.pth", f"{SAM_BASE_URL}/sam_vit_l_0b3195.pth",
                           "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", "0b3195", 1250),
    "vit_h": SamCheckpoint("sam_vit_h_4b8939.pth", f"{SAM_BASE_URL}/sam_vit_h_4b8939.pth",
                           "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", "4b8939", 2560),
}

Opener = Callable[..., Any]  # urllib.request.urlopen(url, timeout=...) -> a response with .read(n)


def _hashes(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def _matches(sha: str, md5: str, sha256: str | None, md5_prefix: str | None) -> bool:
    return (sha256 is None or sha == sha256.lower()) and (md5_prefix is None or md5.startswith(md5_prefix.lower()))


def pull_file(url: str, dest: Path, *, sha256: str | None = None, md5_prefix: str | None = None,
              opener: Opener = urllib.request.urlopen, progress: ProgressFn = null_progress,
              timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` (temp name + rename) and verify it; ``dest`` when done.

    A ``dest`` already there with matching checksums is kept (no download). StudioError when
    the network cannot be reached (naming the file, the folder and the URL) or the
    checksums differ (the download is deleted)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and _matches(*_hashes(dest), sha256, md5_prefix):
        progress(1.0, f"{dest.name} already present (checksum ok)")
        return dest
    manual = (f"download it yourself from {url} and put the file {dest.name} into {dest.parent}/"
              f"{' (sha256 ' + sha256 + ')' if sha256 else ''}")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    try:
        try:
            response = opener(url, timeout=timeout)
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StudioError(f"could not download {url} ({reason}); no network? {manual}") from None
        with response:
            total = int(getattr(response, "headers", {}).get("Content-Length") or 0)
            done = 0
            with tmp.open("wb") as out:
                while True:
                    try:
                        chunk = response.read(1 << 20)
                    except (socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
                        raise StudioError(f"download of {url} broke off after {done / 2**20:.0f} MB ({exc}); "
                                          f"run the command again, or {manual}") from None
                    if not chunk:
                        break
                    out.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    done += len(chunk)
                    progress(done / total if total else 0.0, f"{done / 2**20:.0f} MB of {dest.name}")
        if not _matches(sha.hexdigest(), md5.hexdigest(), sha256, md5_prefix):
            expected = ", ".join(x for x in (f"sha256 {sha256}" if sha256 else "",
                                             f"md5 starting {md5_prefix}" if md5_prefix else "") if x)
            raise StudioError(f"checksum mismatch for {url}: expected {expected}, got sha256 {sha.hexdigest()} "
                              f"md5 {md5.hexdigest()}; the download was deleted. Run the command again, or {manual}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    progress(1.0, f"{dest.name} verified")
    return dest


def sam_dir() -> Path:
    from studio.config import get_settings

    return get_settings().sam_dir


def pull_sam(model_type: str, dest_dir: Path | None = None, *, url: str | None = None,
             opener: Opener = urllib.request.urlopen, progress: ProgressFn = null_progress) -> Path:
    """Download the official SAM ``model_type`` checkpoint into ``dest_dir`` (default
    ``<models_dir>/sam``), verified against its SHA-256 and the MD5 prefix in its name."""
    if model_type not in SAM_CHECKPOINTS:
        raise InvalidInput(f"SAM model type {model_type!r}: expected one of {', '.join(SAM_CHECKPOINTS)}")
    spec = SAM_CHECKPOINTS[model_type]
    folder = Path(dest_dir) if dest_dir is not None else sam_dir()
    return pull_file(url or spec.url, folder / spec.file, sha256=spec.sha256, md5_prefix=spec.md5_prefix,
                     opener=opener, progress=progress)


# ---------------------------------------------------------------------------------- pullers

Puller = Callable[[Path | None, ProgressFn], Path]  # (destination folder or None, progress) -> file


@dataclass(frozen=True)
class PullerEntry:
    description: str
    pull: Puller


PULLERS: dict[str, PullerEntry] = {}


def register_puller(name: str, description: str, pull: Puller) -> None:
    """Make ``studio pull <name>`` run ``pull`` (re-registering the same name replaces it)."""
    PULLERS[name] = PullerEntry(description, pull)


def run_puller(name: str, dest_dir: Path | None = None, progress: ProgressFn = null_progress) -> Path:
    """Run the puller registered as ``name``; InvalidInput listing the known names."""
    entry = PULLERS.get(name)
    if entry is None:
        raise InvalidInput(f"nothing to pull called {name!r}; expected one of: {', '.join(sorted(PULLERS))}")
    return entry.pull(dest_dir, progress)


for _type, _spec in SAM_CHECKPOINTS.items():
    register_puller(f"sam-{_type.replace('_', '-')}", f"SAM {_type} weights, {_spec.file} (~{_spec.size_mb} MB)",
                    lambda dest, progress, t=_type: pull_sam(t, dest, progress=progress))
