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


# ---- the batched path and how the encoder runs ------------------------------------------------

@pytest.fixture(scope="module")
def batched(sam: SamSegmenter) -> list[Embedding]:
    """One encoder call for two images: a portrait one first (other padding), then the session's
    small image, whose single-path embedding is ``sam_embedding``."""
    other = np.random.default_rng(2).integers(0, 256, (90, 37, 3), dtype=np.uint8)
    return sam.compute_embeddings([other, small_image()])


def test_batched_embeddings_equal_the_single_path(sam: SamSegmenter, sam_embedding: Embedding,
                                                  batched: list[Embedding]) -> None:
    assert [e.image_size for e in batched] == [(90, 37), SMALL]
    assert batched[0].arrays["input_size"].tolist() == [1024, 421] and batched[0].segmenter_id == sam.id
    assert batched[1].arrays["input_size"].tolist() == [768, 1024]
    got, single = batched[1].arrays["features"], sam_embedding.arrays["features"]
    assert got.shape == single.shape == (1, 256, 64, 64) and got.dtype == np.float32
    # fp32: equal to float rounding; bf16 weights (this CPU, CUDA): within bf16's rounding of the
    # same sums computed in another order: 2% of the largest feature
    scale = float(np.abs(single).max())
    tolerance = 2e-2 if sam.precision == "bf16" else 1e-4
    assert float(np.abs(got - single).max()) <= tolerance * scale
    a = sam.predict(sam_embedding, PROMPTS["box and points"])
    b = sam.predict(batched[1], PROMPTS["box and points"])
    assert (a.masks == b.masks).mean() > 0.99
    assert not np.allclose(batched[0].arrays["features"], single)  # each image its own features


def test_encoder_settings_by_device(sam: SamSegmenter) -> None:
    from studio.segment.sam import native_bf16_cpu

    assert sam.sdpa and not sam.compiled and sam.batch_size == 1  # a CPU: no compile, no batching
    assert sam.precision == ("bf16" if native_bf16_cpu() else "fp32")
    assert sam.runtime == f"{sam.precision} weights, SDPA attention, eager"
    fp32 = SamSegmenter("vit_b", None, device="cpu", precision="fp32", compile=True)
    assert fp32.id == sam.id and fp32.precision == "fp32" and fp32.compiled  # same weights, same cache key
    with pytest.raises(InvalidInput, match="expected one of fp32, bf16"):
        SamSegmenter("vit_b", None, precision="fp16")


@pytest.fixture
def tiny_encoder(monkeypatch: pytest.MonkeyPatch) -> SamSegmenter:
    """A compiled-on-CPU SAM whose model (in a registry private to the test) has its image
    encoder swapped for a small conv with the encoder's output shape: compiling vit_b itself
    takes minutes on a CPU; the compile, padding and fallback logic is the same."""
    import studio.segment.sam as sam_module

    for name in ("_MODELS", "_COMPILED", "_COMPILE_LOCKS"):
        monkeypatch.setattr(sam_module, name, {})
    segmenter = SamSegmenter("vit_b", None, device="cpu", precision="fp32", compile=True)
    torch.manual_seed(0)
    segmenter.model.image_encoder = torch.nn.Sequential(torch.nn.Conv2d(3, 256, 16, stride=16), torch.nn.GELU()).eval()
    return segmenter


def images3() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((40, 64, 3), (64, 40, 3), (30, 30, 3))]


def test_compiled_encoder_equals_eager_and_reuses_its_graph(tiny_encoder: SamSegmenter) -> None:
    """inductor on the CPU: outputs equal eager within 1e-5; a short batch padded to ``pad_to``
    reuses the graph of that batch size (one compile for batches of 2 and 3 padded to 4)."""
    from torch._dynamo.utils import counters

    eager = SamSegmenter("vit_b", None, device="cpu", precision="fp32", compile=False)  # the same model
    images = images3()
    before = counters["stats"]["unique_graphs"]
    first = tiny_encoder.compute_embeddings(images[:2], pad_to=4)
    second = tiny_encoder.compute_embeddings(images, pad_to=4)
    assert counters["stats"]["unique_graphs"] - before == 1
    assert tiny_encoder.runtime == "fp32 weights, SDPA attention, torch.compile"
    expected = eager.compute_embeddings(images)
    for got, want in zip(first + second, expected[:2] + expected, strict=True):
        np.testing.assert_allclose(got.arrays["features"], want.arrays["features"], atol=1e-5, rtol=1e-5)
        assert got.arrays["input_size"].tolist() == want.arrays["input_size"].tolist()


def test_a_compile_that_fails_runs_eager_and_says_why(tiny_encoder: SamSegmenter, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    def cannot(module: torch.nn.Module, **kwargs: object):  # noqa: ANN202
        def run(x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("InductorError: no working C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", cannot)
    eager = SamSegmenter("vit_b", None, device="cpu", precision="fp32", compile=False)
    with caplog.at_level("WARNING", logger="studio.segment.sam"):
        got = tiny_encoder.compute_embeddings(images3()[:1])
    assert "runs eager: torch.compile failed: RuntimeError: InductorError: no working C++ compiler" in caplog.text
    assert tiny_encoder.runtime.endswith("eager (torch.compile failed: RuntimeError: InductorError: no working C++ "
                                         "compiler found)")
    np.testing.assert_array_equal(got[0].arrays["features"], eager.compute_embeddings(images3()[:1])[0].arrays["features"])


def test_out_of_memory_in_the_compiled_encoder_is_not_a_compile_failure(tiny_encoder: SamSegmenter,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def oom(module: torch.nn.Module, **kwargs: object):  # noqa: ANN202
        def run(x: torch.Tensor) -> torch.Tensor:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB")
        return run

    monkeypatch.setattr(torch, "compile", oom)
    with pytest.raises(torch.OutOfMemoryError):
        tiny_encoder.compute_embeddings(images3())
    assert tiny_encoder.runtime.endswith("torch.compile")  # still compiled: the caller halves the batch
