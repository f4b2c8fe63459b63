"""SAM through the real segment-anything code path, with random weights (vit_b, seeded).

One embedding per session (``sam_embedding``): SAM's encoder runs at 1024x1024 whatever the
image size, ~20 s on this kind of CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.errors import InvalidInput
from studio.segment.base import Embedding, Prompt
from studio.segment.sam import SamSegmenter, checkpoint_sha256, sdpa_attention_forward
from tests.segment.conftest import SMALL, small_image

PROMPTS = {
    "one point": Prompt.from_clicks([(30, 20)], [1]),
    "points": Prompt.from_clicks([(30, 20), (5, 5)], [1, 0]),
    "box": Prompt.from_clicks([], [], box=(18, 10, 46, 38)),
    "box and points": Prompt.from_clicks([(30, 20), (60, 44)], [1, 0], box=(18, 10, 46, 38)),
    "box beyond the image": Prompt.from_clicks([], [], box=(-5, 10, 70, 60)),
}


def predictor_for(sam: SamSegmenter, embedding: Embedding):  # noqa: ANN201
    """segment-anything's own ``SamPredictor`` holding the same features (no second encoder run)."""
    from segment_anything import SamPredictor

    predictor = SamPredictor(sam.model)
    predictor.features = torch.as_tensor(embedding.arrays["features"])
    predictor.original_size = embedding.image_size
    predictor.input_size = tuple(int(v) for v in embedding.arrays["input_size"])
    predictor.is_image_set = True
    return predictor


def test_id_name_kind(sam: SamSegmenter) -> None:
    assert sam.id == "sam-vit_b-random0"
    assert sam.kind == "sam"
    assert sam.name.startswith("SAM vit_b (cpu)")


def test_embedding_shapes_and_dtypes(sam_embedding: Embedding) -> None:
    assert sam_embedding.segmenter_id == "sam-vit_b-random0"
    assert sam_embedding.image_size == SMALL
    assert sam_embedding.arrays["features"].shape == (1, 256, 64, 64)
    assert sam_embedding.arrays["features"].dtype == np.float32
    assert np.isfinite(sam_embedding.arrays["features"]).all()
    assert sam_embedding.arrays["input_size"].tolist() == [768, 1024]  # longest side 64 -> 1024


def test_encoder_input_is_what_sam_predictor_feeds(sam: SamSegmenter) -> None:
    """Same resize, normalisation and padding as ``SamPredictor.set_image`` (encoder stubbed)."""
    from segment_anything import SamPredictor

    seen: list[torch.Tensor] = []

    class Recorder(torch.nn.Module):
        img_size = 1024

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.detach().clone())
            return torch.zeros(1, 256, 64, 64)

    model = sam.model
    encoder = model.image_encoder
    model.image_encoder = Recorder()  # the session's shared model: put the real encoder back below
    try:
        image = np.random.default_rng(1).integers(0, 256, (37, 90, 3), dtype=np.uint8)
        predictor = SamPredictor(model)
        predictor.set_image(image)
        embedding = sam.compute_embedding(image)
    finally:
        model.image_encoder = encoder
    assert len(seen) == 2 and seen[0].shape == (1, 3, 1024, 1024)
    assert torch.equal(seen[0], seen[1])
    assert embedding.arrays["input_size"].tolist() == list(predictor.input_size) == [421, 1024]


@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize("name", list(PROMPTS))
def test_predict_equals_sam_predictor(sam: SamSegmenter, sam_embedding: Embedding, name: str, multimask: bool) -> None:
    prompt = PROMPTS[name]
    ours = sam.predict(sam_embedding, prompt, multimask=multimask)
    masks, scores, logits = predictor_for(sam, sam_embedding).predict(
        prompt.points if len(prompt.points) else None, prompt.labels if len(prompt.points) else None,
        prompt.box, None, multimask)
    assert ours.masks.dtype == bool and ours.masks.shape == (3 if multimask else 1, *SMALL)
    assert ours.scores.shape == (len(ours.masks),) and ours.logits.shape == (len(ours.masks), 256, 256)
    assert np.array_equal(ours.masks, masks)
    np.testing.assert_allclose(ours.logits, logits, atol=1e-5)
    np.testing.assert_allclose(ours.scores, scores, atol=1e-6)


def test_logits_go_back_in_as_mask_input(sam: SamSegmenter, sam_embedding: Embedding) -> None:
    first = sam.predict(sam_embedding, PROMPTS["one point"])
    refine = Prompt.from_clicks([(30, 20), (40, 30)], [1, 1], mask_input=first.best_logits())
    assert refine.mask_input.shape == (1, 256, 256)
    ours = sam.predict(sam_embedding, refine, multimask=False)
    masks, scores, logits = predictor_for(sam, sam_embedding).predict(
        refine.points, refine.labels, None, refine.mask_input, False)
    assert ours.masks.shape == (1, *SMALL)
    assert np.array_equal(ours.masks, masks)
    np.testing.assert_allclose(ours.logits, logits, atol=1e-5)


def test_bad_prompts_and_foreign_embeddings_are_refused(sam: SamSegmenter, sam_embedding: Embedding) -> None:
    h, w = SMALL
    with pytest.raises(InvalidInput, match="outside the image"):
        sam.predict(sam_embedding, Prompt.from_clicks([(w + 3, 5)], [1]))
    with pytest.raises(InvalidInput, match="x1 > x0"):
        sam.predict(sam_embedding, Prompt.from_clicks([], [], box=(10, 10, 10, 30)))
    with pytest.raises(InvalidInput, match="empty prompt"):
        sam.predict(sam_embedding, Prompt())
    foreign = Embedding("fallback-grabcut-v1", SMALL, dict(sam_embedding.arrays))
    with pytest.raises(InvalidInput, match="computed by 'fallback-grabcut-v1'"):
        sam.predict(foreign, PROMPTS["one point"])
    with pytest.raises(InvalidInput, match="uint8"):
        sam.set_image(small_image().astype(np.float32))


def test_embedding_from_the_fp16_cache_predicts_the_same(sam: SamSegmenter, sam_embedding: Embedding,
                                                         tmp_path: Path) -> None:
    from studio.segment.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path, 10**9, memory_items=0)
    cache.put("ab" * 32, sam_embedding)
    back, source = cache.get(sam.id, "ab" * 32)
    assert source == "disk" and back.arrays["features"].dtype == np.float32
    a = sam.predict(sam_embedding, PROMPTS["box and points"])
    b = sam.predict(back, PROMPTS["box and points"])
    assert (a.masks == b.masks).mean() > 0.99
    np.testing.assert_allclose(a.scores, b.scores, atol=0.02)


def test_checkpoint_id_is_its_hash_remembered_in_a_sidecar(sam: SamSegmenter, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(sam.model.state_dict(), path)
    loaded = SamSegmenter("vit_b", path, device="cpu")
    sha = checkpoint_sha256(path)
    assert loaded.id == f"sam-vit_b-{sha[:12]}"
    assert (tmp_path / "sam_vit_b_01ec64.pth.sha256").is_file()
    import studio.segment.sam as sam_module

    monkeypatch.setattr(sam_module.hashlib, "sha256", lambda: pytest.fail("hashed again despite the sidecar"))
    assert SamSegmenter("vit_b", path).id == loaded.id  # same file: same id, no rehash
    monkeypatch.undo()
    # the weights really load (weights_only=True): the same tensors as the random model
    names = ["image_encoder.patch_embed.proj.weight", "mask_decoder.iou_prediction_head.layers.0.weight"]
    state = loaded.model.state_dict()
    for name in names:
        assert torch.equal(state[name], sam.model.state_dict()[name])
    with path.open("ab") as f:  # a changed file is another checkpoint: another id, another cache key
        f.write(b"\0")
    assert SamSegmenter("vit_b", path).id != loaded.id


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.marker,))


def test_a_checkpoint_with_pickled_objects_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    with path.open("wb") as f:
        torch.save({"model": _Payload(marker)}, f)
    segmenter = SamSegmenter("vit_b", path, device="cpu")
    with pytest.raises(InvalidInput, match="refused: expected a plain PyTorch weights file"):
        segmenter.set_image(small_image())
    assert not marker.exists()


def test_a_checkpoint_of_other_weights_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"some.layer.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(InvalidInput, match="does not fit SAM vit_b"):
        SamSegmenter("vit_b", path, device="cpu").set_image(small_image())


def test_unknown_type_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="expected one of vit_b, vit_l, vit_h"):
        SamSegmenter("vit_x", None)
    with pytest.raises(InvalidInput, match="does not exist"):
        SamSegmenter("vit_b", tmp_path / "nope.pth")


@pytest.mark.parametrize("rel_pos", [False, True])
def test_sdpa_attention_equals_segment_anything_attention(rel_pos: bool) -> None:
    """The SDPA forward used on CUDA computes what the library's attention computes."""
    from segment_anything.modeling.image_encoder import Attention

    torch.manual_seed(0)
    attention = Attention(64, num_heads=4, use_rel_pos=rel_pos, input_size=(7, 9)).eval()
    if rel_pos:
        torch.nn.init.normal_(attention.rel_pos_h, std=0.5)
        torch.nn.init.normal_(attention.rel_pos_w, std=0.5)
    x = torch.randn(2, 7, 9, 64)
    with torch.inference_mode():
        expected = attention(x)
        got = sdpa_attention_forward(attention, x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
