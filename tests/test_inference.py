"""studio.inference: one predictor per (version, runtime, device); real models (random init),
real SQLite and onnxruntime. The builders at the top are shared by the model-ops tests
(evaluation, compare, export, bench, prelabel, jobs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest


DEMO_SIZE = (160, 128)  # width, height: the smallest demo scene size, multiples of 32
SEMANTIC_IMAGE_SIZE = 64  # UNet runs on images resized to a 64-pixel longest side (fast on CPU)


# --------------------------------------------------------------------------- builders (shared)


def make_dataset(root: Path, name: str = "shelves", n_images: int = 6, seed: int = 3) -> int:
    """Import ``n_images`` demo shelf scenes (160x128) as dataset ``name`` and snapshot it; the
    dataset version id."""
    from studio.datasets import ingest_doc, snapshot
    from studio.demo import generate_demo

    doc = generate_demo(root / f"demo-{name}", n_images=n_images, seed=seed, width=DEMO_SIZE[0], height=DEMO_SIZE[1])
    ingest_doc(doc, dataset=name)
    return int(snapshot(name).id)  # type: ignore[arg-type]


def demo_classes() -> list[dict[str, Any]]:
    from studio.demo import DEMO_CLASSES

    return [{"name": c.name, "index": c.index, "color": c.color} for c in DEMO_CLASSES]


def make_version(root: Path, task: str, architecture: str, backbone: str, *, classes: list[dict[str, Any]] | None = None,
                 dataset_version_id: int | None = None, image_size: int | None = None, seed: int = 0,
                 dataset: str = "shelves", model_kwargs: dict[str, Any] | None = None) -> Any:
    """Register a random-init model of ``architecture`` as a version (checkpoint dict with its
    state_dict, preprocessing.json from studio.nets); the ModelVersion."""
    import torch

    from studio import registry
    from studio.nets import create_model, preprocessing

    classes = classes or demo_classes()
    kwargs = dict(model_kwargs or {})
    torch.manual_seed(seed)
    extra = {"names": tuple(c["name"] for c in classes)} if architecture == "yolov8-seg" else {}
    model = create_model(architecture, num_classes=registry.num_outputs(task, classes), backbone=backbone or None,
                         **kwargs, **extra)
    folder = root / f"run-{architecture}-{seed}-{np.random.default_rng().integers(1 << 30)}"
    path = registry.save_checkpoint(folder / "best.pt", model=model.state_dict(), epoch=1, best_metric=0.0,
                                    config={"architecture": architecture})
    prep = preprocessing(architecture, backbone or None, **kwargs)
    if image_size:
        prep["image_size"] = image_size
    return registry.register_model(task=task, architecture=architecture, backbone=backbone, classes=classes,
                                   dataset=dataset, files={"best": path},
                                   config={"task": task, "architecture": architecture, "backbone": backbone,
                                           "model_kwargs": kwargs, "classes": classes},
                                   preprocessing=prep, dataset_version_id=dataset_version_id)


def unet_version(root: Path, dataset_version_id: int | None = None, seed: int = 0, **kw: Any) -> Any:
    return make_version(root, "semantic", "unet", "resnet18", dataset_version_id=dataset_version_id,
                        image_size=SEMANTIC_IMAGE_SIZE, seed=seed, **kw)


def yolo_version(root: Path, dataset_version_id: int | None = None, seed: int = 0) -> Any:
    return make_version(root, "instance", "yolov8-seg", "n", dataset_version_id=dataset_version_id,
                        image_size=128, seed=seed)


def classifier_version(root: Path, dataset_version_id: int | None = None, seed: int = 0) -> Any:
    return make_version(root, "classification", "small_cnn", "", dataset_version_id=dataset_version_id,
                        image_size=32, seed=seed)


def scene(seed: int = 0) -> np.ndarray:
    """One (128, 160, 3) uint8 RGB shelf scene."""
    from studio.demo import render_scene, scene_rng

    return render_scene(scene_rng(seed, 0), *DEMO_SIZE)[0]


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def versions(module_studio: Path) -> dict[str, Any]:
    dv = make_dataset(module_studio)
    return {"dv": dv, "unet": unet_version(module_studio, dv), "yolo": yolo_version(module_studio, dv),
            "cls": classifier_version(module_studio, dv)}


def test_semantic_predictor_gives_labels_at_the_input_size(versions: dict[str, Any]) -> None:
    from studio.inference import SemanticOutput, load_predictor

    predictor = load_predictor(versions["unet"].name, runtime="torch", device="cpu")
    assert predictor is load_predictor(versions["unet"].id, device="cpu")  # cached per version/runtime/device
    assert predictor.task == "semantic" and predictor.classes == ["background", "box", "jar", "bottle", "can", "tape"]
    image = scene(1)
    out = predictor.predict(image, with_probs=True)
    assert isinstance(out, SemanticOutput)
    assert out.labels.shape == (128, 160) and out.labels.dtype == np.int64
    assert out.labels.min() >= 0 and out.labels.max() < 6
    assert out.probs is not None and out.probs.shape == (6, 128, 160)
    np.testing.assert_allclose(out.probs.sum(0), 1.0, atol=1e-4)
    assert np.array_equal(out.probs.argmax(0), out.labels)
    odd = predictor.predict(image[:100, :150].copy())  # any size: padded and cropped back
    assert odd.labels.shape == (100, 150)
    batch = predictor.predict_batch([image, image[:100, :150].copy(), image])
    assert np.array_equal(batch[0].labels, out.labels) and np.array_equal(batch[2].labels, out.labels)
    assert np.array_equal(batch[1].labels, odd.labels)


def test_instance_predictor_masks_and_semantic_raster(versions: dict[str, Any]) -> None:
    from studio.inference import InstanceOutput, load_predictor

    predictor = load_predictor(versions["yolo"], device="cpu")
    out = predictor.predict(scene(2), conf=0.0001, max_det=20)
    assert isinstance(out, InstanceOutput)
    n = len(out)
    assert out.masks.shape == (n, 128, 160) and out.masks.dtype == bool
    assert out.class_indices.shape == (n,) and out.scores.shape == (n,) and out.boxes.shape == (n, 4)
    assert np.all(np.diff(out.scores) <= 1e-6)  # best first
    semantic = out.to_semantic()
    assert semantic.shape == (128, 160) and set(np.unique(semantic)) <= {0, 1, 2, 3, 4, 5}
    assert out.to_semantic(64, 80).shape == (64, 80)
    masks = np.zeros((2, 4, 4), bool)
    masks[0, :2], masks[1, 1:] = True, True
    two = InstanceOutput(masks, np.array([0, 3]), np.array([0.9, 0.5], np.float32), np.zeros((2, 4), np.float32),
                         (1, 2, 3, 4, 5))
    assert two.to_semantic().tolist() == [[1] * 4, [1] * 4, [4] * 4, [4] * 4]  # the higher score wins overlaps


def test_classification_predictor_probs_and_top(versions: dict[str, Any]) -> None:
    from studio.inference import ClassOutput, load_predictor

    predictor = load_predictor(versions["cls"], device="cpu")
    out = predictor.predict(scene(3))
    assert isinstance(out, ClassOutput) and out.probs.shape == (5,)
    assert abs(float(out.probs.sum()) - 1.0) < 1e-5
    assert out.top[0][0] == out.name == predictor.classes[out.index] and len(out.top) == 5


def test_bad_inputs_are_refused_with_the_reason(versions: dict[str, Any], tmp_path: Path) -> None:
    from studio.errors import InvalidInput, NotFound
    from studio.inference import load_predictor, onnx_session

    predictor = load_predictor(versions["cls"], device="cpu")
    with pytest.raises(InvalidInput, match=r"expected \(H, W, 3\) uint8 RGB"):
        predictor.predict(np.zeros((4, 4), np.float32))
    with pytest.raises(InvalidInput, match="runtime 'tensorrt'"):
        load_predictor(versions["cls"], runtime="tensorrt")
    with pytest.raises(NotFound, match="has no ONNX file; export one first"):
        load_predictor(versions["cls"], runtime="onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x01 not a protobuf at all")
    with pytest.raises(InvalidInput, match="broken.onnx: onnxruntime cannot load it"):
        onnx_session(broken)
