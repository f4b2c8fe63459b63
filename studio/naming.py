"""How versions are named for people, so a dataset version is never read as a model version.

One rule, used by messages, CLI output and pages:

- a **dataset version** (an immutable snapshot of an image or keypoint dataset) is
  ``"<dataset> (data v<N>)"``, e.g. ``shelves (data v3)``: a whole number after "data v";
- a **model version** is its full name, ``unet_resnet18_shelves_v1.0.0_20261130``, or its
  semver with three parts, ``v1.0.0``; never a bare ``v3``.

``data_version("shelves", 3)`` -> ``"shelves (data v3)"``; ``data_versions([1, 2])`` ->
``"data v1, data v2"`` (a list after the dataset name is already said).
"""

from __future__ import annotations

from collections.abc import Iterable


def data_version(dataset: str, number: int | None) -> str:
    """``"shelves (data v3)"``; ``"shelves (live data)"`` when ``number`` is None (not frozen yet)."""
    return f"{dataset} (live data)" if number is None else f"{dataset} (data v{int(number)})"


def data_version_short(number: int | None) -> str:
    """``"data v3"`` (``"live data"`` for None): where the dataset's name is already shown."""
    return "live data" if number is None else f"data v{int(number)}"


def data_versions(numbers: Iterable[int]) -> str:
    """``"data v1, data v2"`` ("none" when empty)."""
    return ", ".join(data_version_short(n) for n in numbers) or "none"


def model_semver(semver: str) -> str:
    """``"v1.0.0"`` for a model version's semver."""
    return f"v{semver}"


__all__ = ["data_version", "data_version_short", "data_versions", "model_semver"]
