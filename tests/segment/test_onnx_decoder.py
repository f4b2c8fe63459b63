"""SAM's decoder exported to ONNX (what the browser runs): onnxruntime on the exported file
gives the masks of ``SamSegmenter.predict`` (random vit_b weights, the session's one shared
embedding) for every kind of prompt, after the same postprocessing; the file is exported
once per segmenter id and lives beside the embedding cache without being mistaken for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.errors import InvalidInput
from studio.segment.base import Embedding, Prompt
from studio.segment.onnx_decoder import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    clear_decoders,
    decoder_inputs,
    decoder_path,
    ensure_decoder,
    run_decoder,
)
from studio.segment.sam import SamSegmenter


@pytest.fixture(scope="module")
def decoder(sam: SamSegmenter, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_decoder(sam, tmp_path_factory.mktemp("embeddings") / "decoders")


@pytest.fixture(scope="module")
def session(decoder: Path):  # noqa: ANN201
    import onnxruntime as ort

    return ort.InferenceSession(str(decoder), providers=["CPUExecutionProvider"])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


PROMPTS = {  # on the 48x64 test image: a bright square at x 20..43, y 12..35
    "one point": (Prompt.from_clicks([(30, 20)], [1]), True),
    "positive and negative points": (Prompt.from_clicks([(30, 20), (5, 5)], [1, 0]), False),
    "box": (Prompt.from_clicks([], [], box=(18, 10, 46, 38)), True),
    "box and a point": (Prompt.from_clicks([(30, 20)], [1], box=(18, 10, 46, 38)), False),
    "box beyond the image": (Prompt.from_clicks([], [], box=(-5, 10, 70, 60)), True),
}


def test_file_has_the_documented_inputs_and_outputs(session) -> None:  # noqa: ANN001
    inputs = {i.name: i.shape for i in session.get_inputs()}
    assert tuple(inputs) == INPUT_NAMES and tuple(o.name for o in session.get_outputs()) == OUTPUT_NAMES
    assert inputs["image_embeddings"] == [1, 256, 64, 64] and inputs["mask_input"] == [1, 1, 256, 256]
    assert inputs["point_coords"][1] == inputs["point_labels"][1] == "num_points"  # dynamic N


@pytest.mark.parametrize("name", list(PROMPTS))
def test_onnx_masks_equal_sam_predict(sam: SamSegmenter, sam_embedding: Embedding, session, name: str) -> None:  # noqa: ANN001
    prompt, multimask = PROMPTS[name]
    expected = sam.predict(sam_embedding, prompt, multimask=multimask)
    got = run_decoder(session, sam_embedding, prompt, multimask=multimask)
    assert got.masks.shape == expected.masks.shape
    np.testing.assert_allclose(got.scores, expected.scores, atol=1e-3)
    np.testing.assert_allclose(got.logits, expected.logits, atol=2e-3 * max(1.0, np.abs(expected.logits).max()))
    for k in range(len(expected.masks)):
        assert iou(got.masks[k], expected.masks[k]) >= 0.99, f"{name}: candidate {k}"


def test_a_refinement_with_mask_input_equals_sam_predict(sam: SamSegmenter, sam_embedding: Embedding,
                                                         session) -> None:  # noqa: ANN001
    first = sam.predict(sam_embedding, Prompt.from_clicks([(30, 20)], [1]))
    refine = Prompt.from_clicks([(30, 20), (40, 30)], [1, 1], mask_input=first.best_logits())
    expected = sam.predict(sam_embedding, refine, multimask=False)
    got = run_decoder(session, sam_embedding, refine, multimask=False)
    assert iou(got.masks[0], expected.masks[0]) >= 0.99
    inputs = decoder_inputs(sam_embedding, refine)
    assert inputs["has_mask_input"].tolist() == [1.0] and inputs["point_labels"].tolist() == [[1, 1, -1]]
    np.testing.assert_allclose(inputs["point_coords"][0, 0], [30 * 1024 / 64, 20 * 768 / 48])  # the 1024 frame


def test_exported_once_per_id_and_the_cache_leaves_it_alone(sam: SamSegmenter, decoder: Path) -> None:
    from studio.segment.cache import EmbeddingCache

    assert decoder == decoder_path(sam.id, decoder.parent) and decoder.name == "sam-vit_b-random0.onnx"
    mtime = decoder.stat().st_mtime_ns
    assert ensure_decoder(sam, decoder.parent) == decoder and decoder.stat().st_mtime_ns == mtime  # reused
    assert not list(decoder.parent.glob(".*.tmp"))  # temp file + rename left nothing behind

    cache = EmbeddingCache(decoder.parent.parent, max_bytes=0)  # a budget of 0: evict every embedding
    cache.put("ab" * 32, Embedding("sam-vit_b-random0", (4, 4), {"features": np.ones((1, 2), np.float32)}))
    assert cache.info().entries == 0 and "decoders" not in cache.info().by_segmenter
    assert cache.clear() == 0 and decoder.is_file()  # clear and eviction skip the decoders folder
    assert clear_decoders(decoder.parent) == 1 and not decoder.exists()
    ensure_decoder(sam, decoder.parent)  # exported again on demand
    assert decoder.is_file()


def test_a_truncated_decoder_file_is_exported_again(sam: SamSegmenter, decoder: Path) -> None:
    import onnx

    good = decoder.read_bytes()
    decoder.write_bytes(good[: len(good) // 3])  # a copy cut short (disk full, killed mid-copy)
    assert ensure_decoder(sam, decoder.parent) == decoder
    onnx.checker.check_model(onnx.load(str(decoder)))
    assert decoder.stat().st_size == len(good)


def test_only_sam_segmenters_have_a_decoder() -> None:
    from studio.segment.fallback import FallbackSegmenter

    with pytest.raises(InvalidInput, match="not SAM"):
        ensure_decoder(FallbackSegmenter(), Path("/nonexistent"))
    with pytest.raises(InvalidInput, match="only SAM segmenters"):
        decoder_path("../etc/passwd")
