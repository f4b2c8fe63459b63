"""The live pipeline on generated frames: two models side by side, frames dropped (not queued)
when inference is slower than the camera, errors shown without ending the stream."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from studio.live.pipeline import LivePipeline, Slot


def frame(value: int, h: int = 48, w: int = 64) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def paint(colour: tuple[int, int, int]):  # noqa: ANN201
    def draw(image: np.ndarray, output: int) -> np.ndarray:
        image[-4:] = colour  # a band in the model's colour: visible proof the overlay was drawn
        return image
    return draw


def test_two_models_render_side_by_side_on_the_frame_they_saw() -> None:
    seen: list[tuple[str, int]] = []
    slots = [Slot("A", lambda f: seen.append(("A", int(f[0, 0, 0]))) or 1, paint((255, 0, 0))),
             Slot("B", lambda f: seen.append(("B", int(f[0, 0, 0]))) or 2, paint((0, 0, 255)))]
    with LivePipeline(slots) as pipeline:
        warm = pipeline.process(frame(10))
        assert warm.shape == (48, 128, 3)  # before any result: the camera frame, twice
        stats = pipeline.wait_for_results(1)
        out = pipeline.process(frame(20))
    assert sorted(seen[:2]) == [("A", 10), ("B", 10)]  # both models, same frame (concurrently: either first)
    assert out.shape == (48, 128, 3)
    assert (out[-1, 5] == (255, 0, 0)).all() and (out[-1, 64 + 5] == (0, 0, 255)).all()
    assert out[30, 5, 0] in (10, 20)  # the picture under the overlay is a real frame
    assert stats.frames_done >= 1 and set(stats.latency_ms) == {"A", "B"}


def test_frames_are_dropped_not_queued_when_inference_is_slow() -> None:
    release = threading.Event()
    processed: list[int] = []

    def slow(f: np.ndarray) -> int:
        release.wait(5)
        processed.append(int(f[0, 0, 0]))
        return 0

    with LivePipeline([Slot("slow", slow, paint((0, 255, 0)))]) as pipeline:
        pipeline.submit(frame(0))
        time.sleep(0.05)  # inference took frame 0 and is busy
        for v in range(1, 30):  # the camera keeps delivering
            start = time.perf_counter()
            pipeline.process(frame(v))
            assert time.perf_counter() - start < 1  # never waits for the model (held for 5 s)
        release.set()
        stats = pipeline.wait_for_results(2)
        time.sleep(0.05)
    assert processed[:2] == [0, 29]  # the newest frame, not the 28 in between
    assert stats.frames_in == 30 and stats.frames_dropped == 28


def test_a_failing_model_is_reported_and_the_stream_goes_on() -> None:
    calls = {"n": 0}

    def flaky(f: np.ndarray) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("CUDA out of memory")
        return 0

    with LivePipeline([Slot("flaky", flaky, paint((1, 2, 3)))]) as pipeline:
        pipeline.process(frame(1))
        assert "CUDA out of memory" in pipeline.wait_for_results(1).error
        pipeline.process(frame(2))
        assert pipeline.wait_for_results(2).error is None


def test_a_pipeline_needs_a_model() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        LivePipeline([])


def test_overlays_colour_masks_objects_and_labels() -> None:
    from studio.inference import ClassOutput, InstanceOutput, SemanticOutput
    from studio.live.overlay import drawer

    classes = [{"name": "box", "index": 1, "color": "#ff0000"}, {"name": "jar", "index": 2, "color": "#00ff00"}]
    draw = drawer(classes, legend=False)  # the legend band: test_overlay_draws_the_full_name_and_a_class_legend
    image = frame(100, 60, 80)
    labels = np.zeros((30, 40), np.int64)  # half size: resized to the frame
    labels[:, 20:] = 2
    semantic = draw(image, SemanticOutput(labels))
    assert tuple(semantic[10, 10]) == (100, 100, 100)  # background untouched
    assert semantic[10, 60, 1] > 150 and semantic[10, 60, 0] < 60  # blended towards green (jar)

    masks = np.zeros((1, 60, 80), bool)
    masks[0, 20:40, 10:30] = True
    instance = draw(image, InstanceOutput(masks, np.array([0]), np.array([0.9], np.float32),
                                          np.array([[10, 20, 30, 40]], np.float32), (1, 2)))
    assert instance[30, 20, 0] > 150 and instance[30, 20, 1] < 60  # box class: red
    assert tuple(instance[55, 70]) == (100, 100, 100)

    label = draw(image, ClassOutput(np.array([0.2, 0.8], np.float32), [("jar", 0.8), ("box", 0.2)]))
    assert not np.array_equal(label, image) and np.array_equal(image, frame(100, 60, 80))  # input not modified


def test_overlay_draws_the_full_name_and_a_class_legend() -> None:
    from studio.inference import SemanticOutput
    from studio.live.overlay import drawer, legend_entries

    classes = [{"name": "jar", "index": 2, "color": "#00ff00"}, {"name": "box", "index": 1, "color": "#ff0000"}]
    assert legend_entries(classes) == [("box", (255, 0, 0)), ("jar", (0, 255, 0))]  # index order, no background
    image = frame(100, 480, 640)
    plain = drawer(classes, legend=False)(image, SemanticOutput(np.zeros((480, 640), np.int64)))
    named = drawer(classes, title="A: unet_resnet18_shelves_v1.10.0_20261130")(image, SemanticOutput(
        np.zeros((480, 640), np.int64)))
    changed = np.argwhere((named != plain).any(2))
    assert changed[:, 0].min() > 380  # a band at the bottom; the picture above stays as it was
    band = named[changed[:, 0].min():]
    assert ((band == (255, 0, 0)).all(2)).sum() > 50 and ((band == (0, 255, 0)).all(2)).sum() > 50  # swatches
    assert ((band == (255, 255, 255)).all(2)).sum() > 100  # the name and the class names in white
    narrow = drawer(classes * 4, title="B")(frame(100, 120, 90), SemanticOutput(np.zeros((120, 90), np.int64)))
    assert narrow.shape == (120, 90, 3)  # many classes on a narrow frame wrap onto more rows


def test_concurrent_slots_run_at_the_same_time() -> None:
    """Two models of 0.3 s each: concurrently a frame takes about one model's time, not two."""
    def slow(value: int):  # noqa: ANN202
        def infer(f: np.ndarray) -> int:
            time.sleep(0.3)  # like a GPU kernel or onnxruntime: the GIL is free meanwhile
            return value + int(f[0, 0, 0])
        return infer

    slots = [Slot("A", slow(1), paint((1, 1, 1))), Slot("B", slow(2), paint((2, 2, 2)))]
    concurrent, sequential = LivePipeline(slots, concurrent=True), LivePipeline(slots, concurrent=False)
    for pipeline, low, high in ((concurrent, 0.3, 0.55), (sequential, 0.6, 5.0)):
        start = time.perf_counter()
        outputs, latencies, error = pipeline.infer_all(frame(10))
        assert low <= time.perf_counter() - start < high
        assert outputs == [11, 12] and error is None and all(ms >= 290 for ms in latencies)
    assert LivePipeline(slots).concurrent is True  # the default for two slots (it pays on CPUs too: README)
    assert LivePipeline([*slots[:1]], concurrent=True).concurrent is False  # nothing to overlap


def test_concurrent_models_give_what_they_give_one_after_the_other(module_studio) -> None:  # noqa: ANN001
    """Two real UNets (different weights) on the same camera frames, concurrently and one after
    the other: the same label maps, also through the running pipeline."""
    from studio.live.session import model_slot
    from tests.test_inference import unet_version

    refs = [unet_version(module_studio, seed=seed).name for seed in (11, 12)]
    slots = [model_slot(ref, device="cpu", label=tag, tag=tag) for tag, ref in zip("AB", refs)]
    assert all(s.device == "cpu" and s.warmup() == "ready (nothing to compile)" for s in slots)  # eager on CPU
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(2)]
    sequential = LivePipeline(slots, concurrent=False)
    with LivePipeline(slots, concurrent=True) as concurrent:
        for f in frames:
            a, _, error_a = concurrent.infer_all(f)
            b, _, error_b = sequential.infer_all(f)
            assert error_a is None and error_b is None
            assert [o.labels.shape for o in a] == [(96, 128)] * 2
            assert all(np.array_equal(x.labels, y.labels) for x, y in zip(a, b))
        assert not np.array_equal(a[0].labels, a[1].labels) or a[0].labels.min() == a[0].labels.max()
        concurrent.submit(frames[-1])
        stats = concurrent.wait_for_results(1)
    assert stats.concurrent and set(stats.warmup) == {"A", "B"} and stats.error is None
