"""Choosing the segmenter (STUDIO_SAM_MODEL, checkpoints in <models_dir>/sam) and
embeddings through the process-wide cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from studio.segment import (
    FallbackSegmenter,
    SamSegmenter,
    SegmenterChoice,
    choose_segmenter,
    embedding_for,
    get_cache,
    get_segmenter,
)
from studio.segment.registry import clear_choices
from tests.segment.conftest import write_png


@pytest.fixture
def studio(studio_env: dict[str, str]) -> Iterator[Path]:
    from studio.config import get_settings

    clear_choices()
    yield get_settings().sam_dir.resolve()
    clear_choices()


def test_package_import_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, studio.segment as s; from studio.segment import choose_segmenter, get_prefetcher, "
            "embedding_for, get_cache, SegmenterChoice, FallbackSegmenter; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_no_checkpoint_means_the_fallback_and_where_to_put_one(studio: Path) -> None:
    choice = choose_segmenter()
    assert isinstance(choice, SegmenterChoice) and isinstance(choice.segmenter, FallbackSegmenter)
    assert str(studio) in choice.note and "sam_vit_b_01ec64.pth" in choice.note
    assert "studio pull sam-vit-b" in choice.note
    assert choose_segmenter() is choice  # chosen once per process
    assert get_segmenter() is choice.segmenter


def test_an_explicit_model_whose_file_is_missing_falls_back_with_the_path(studio: Path) -> None:
    choice = choose_segmenter("vit_l")
    assert choice.segmenter.kind == "fallback"
    assert str(studio / "sam_vit_l_0b3195.pth") in choice.note and "studio pull sam-vit-l" in choice.note


@pytest.mark.parametrize("setting", ["fallback", "vit_q"])
def test_fallback_on_purpose_or_for_an_unknown_value(studio: Path, setting: str) -> None:
    choice = choose_segmenter(setting)
    assert choice.segmenter.kind == "fallback" and setting in choice.note


def test_a_checkpoint_present_is_used_lazily(studio: Path) -> None:
    studio.mkdir(parents=True, exist_ok=True)
    (studio / "sam_vit_b_01ec64.pth").write_bytes(b"not loaded until the first embedding")
    choice = choose_segmenter()
    assert isinstance(choice.segmenter, SamSegmenter)
    assert choice.segmenter.id.startswith("sam-vit_b-") and "sam_vit_b_01ec64.pth" in choice.note


def test_auto_prefers_vit_b_on_cpu(studio: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_DEVICE", "cpu")
    from studio.config import get_settings

    get_settings.cache_clear()
    studio.mkdir(parents=True, exist_ok=True)
    for name in ("sam_vit_h_4b8939.pth", "sam_vit_b_01ec64.pth"):
        (studio / name).write_bytes(name.encode())
    choice = choose_segmenter()
    assert choice.segmenter.id.startswith("sam-vit_b-") and "fastest" in choice.note


def test_embedding_for_goes_through_the_cache(studio: Path, tmp_path: Path) -> None:
    path = write_png(tmp_path / "img.png", np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8))
    segmenter = FallbackSegmenter()
    first, source = embedding_for(segmenter, "ef" * 32, path)
    assert source == "computed" and first.image_size == (30, 40)
    assert embedding_for(segmenter, "ef" * 32, path)[1] == "memory"
    assert get_cache().info().by_segmenter["fallback-grabcut-v1"]["entries"] == 1


def test_random_weights_on_purpose(studio: Path) -> None:
    choice = choose_segmenter("random-vit_b")
    assert isinstance(choice.segmenter, SamSegmenter) and choice.segmenter.id == "sam-vit_b-random0"
    assert "RANDOM weights" in choice.note and "STUDIO_SAM_MODEL=random-vit_b" in choice.note
