"""The training input path: the per-version input cache (built once, reused, rebuilt when stale
or corrupt), the photometric steps that run on the device on CUDA (here on the CPU: the same
function), and persistent loader workers that still see every epoch's augmentation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.training.cache import IMAGES, LABELS, MANIFEST, cache_dir, open_input_cache
from studio.training.augment import Photometric, apply_photometric
from studio.training.data import EpochItems, EpochShuffle, SegmentationDataset, finish_batch, load_version

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
AUGMENT = {"hflip": 0.5, "vflip": 0.3, "rotate": 15.0, "color_jitter": 0.3}


def make_version(root: Path, *, seed: int = 3, n: int = 4):  # noqa: ANN201
    from studio.datasets import ingest_doc, snapshot
    from studio.demo import generate_demo

    ingest_doc(generate_demo(root / f"demo{seed}", n_images=n, seed=seed, width=160, height=120), dataset="shelves")
    return load_version("shelves", snapshot("shelves").version)


@pytest.fixture
def version(studio_env: dict[str, str], tmp_path: Path):  # noqa: ANN201
    return make_version(tmp_path)


def lines() -> tuple[list[str], object]:
    seen: list[str] = []
    return seen, seen.append


def test_built_once_then_reused_and_equal_to_decoding(version) -> None:  # noqa: ANN001
    seen, say = lines()
    cache = open_input_cache("shelves", version.version, version.samples, 64, log_fn=say)
    assert cache.built_seconds is not None and "built 4 images at 64²" in seen[-1] and "not built yet" in seen[-1]
    folder = cache_dir("shelves", version.version, 64)
    assert cache.folder == folder and {p.name for p in folder.iterdir()} == {IMAGES, LABELS, MANIFEST}
    assert cache.images.shape == (4, 64, 64, 3) and cache.labels.dtype == np.uint8
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no build folder left behind

    again = open_input_cache("shelves", version.version, version.samples, 64, log_fn=say)
    assert again.built_seconds is None and "from" in seen[-1]  # reused, not rebuilt

    train, val = version.train_val()
    cached = SegmentationDataset(val, 64, MEAN, STD, cache=again)
    decoded = SegmentationDataset(val, 64, MEAN, STD)
    for i in range(len(val)):
        assert torch.equal(cached[i][0], decoded[i][0]) and torch.equal(cached[i][1], decoded[i][1])

    import pickle

    clone = pickle.loads(pickle.dumps(cached))  # a spawned worker maps the files itself
    assert clone.cache._images is None and torch.equal(clone[0][0], cached[0][0])


def test_a_version_whose_content_changed_is_rebuilt(studio_env: dict[str, str], tmp_path: Path) -> None:
    """A dataset deleted and made again under the same name has a v1 of other content."""
    from studio.datasets import get_dataset
    from studio.db import session_scope
    from studio.tables import Dataset

    first = make_version(tmp_path, seed=3)
    old = open_input_cache("shelves", first.version, first.samples, 64)
    old_pixels = np.array(old.images)
    with session_scope() as session:
        session.delete(session.get(Dataset, get_dataset(session, "shelves").id))
    second = make_version(tmp_path, seed=5)
    assert second.version == first.version == 1
    seen, say = lines()
    new = open_input_cache("shelves", second.version, second.samples, 64, log_fn=say)
    assert new.built_seconds is not None and "content changed" in seen[-1]
    assert not np.array_equal(np.array(new.images), old_pixels)


@pytest.mark.parametrize("damage, why", [
    ("truncate images", "corrupt"),  # a copy cut short
    ("flip label bytes", "checksum"),  # same size, other bytes
    ("garbage manifest", "manifest is unreadable"),
    ("missing labels", "labels.npy is missing"),
])
def test_a_corrupt_cache_is_rebuilt(version, damage: str, why: str) -> None:  # noqa: ANN001
    cache = open_input_cache("shelves", version.version, version.samples, 64)
    good = np.array(cache.labels)
    folder = cache.folder
    del cache
    if damage == "truncate images":
        path = folder / IMAGES
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "flip label bytes":
        path = folder / LABELS
        data = bytearray(path.read_bytes())
        data[-500:] = bytes(255 - b for b in data[-500:])
        path.write_bytes(bytes(data))
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new version of the file
    elif damage == "garbage manifest":
        (folder / MANIFEST).write_text("{not json")
    else:
        (folder / LABELS).unlink()
    seen, say = lines()
    again = open_input_cache("shelves", version.version, version.samples, 64, log_fn=say)
    assert again.built_seconds is not None and why in seen[-1], seen
    assert np.array_equal(np.array(again.labels), good)
    assert json.loads((folder / MANIFEST).read_text())["count"] == len(version.samples)


def test_only_the_most_recently_used_versions_are_kept(version) -> None:  # noqa: ANN001
    from studio.training.cache import KEEP_VERSIONS

    open_input_cache("shelves", 1, version.samples, 48)  # another size: never pruned by the 32² ones
    seen, say = lines()
    for number in range(1, 6):  # five snapshots trained on at 32² (same images: the folder is the key)
        open_input_cache("shelves", number, version.samples, 32, log_fn=say)
        if number == 2:
            open_input_cache("shelves", 1, version.samples, 32)  # v1 used again: now newer than v2
    kept = sorted(p.parent.name for p in cache_dir("shelves", 1, 32).parent.parent.glob("v*/32"))
    assert KEEP_VERSIONS == 3 and kept == ["v3", "v4", "v5"]
    removed = [line for line in seen if "removed" in line]
    assert len(removed) == 2 and "v2" in removed[0] and "v1" in removed[1]  # least recently used first
    assert (cache_dir("shelves", 1, 48) / MANIFEST).is_file()


@pytest.mark.parametrize("augment", [
    {"hflip": 1.0, "vflip": 1.0},  # flips: albumentations in a CPU run's workers, tensor ops on a CUDA run's GPU
    {"rotate": 15.0, "scale": 0.8},  # geometric: albumentations in the workers either way
    {},
])
def test_device_side_items_finish_to_the_same_tensors(version, augment: dict) -> None:  # noqa: ANN001
    """A CUDA run's datasets hand out uint8 + parameters and finish on the GPU; the result is
    what a CPU run's workers produce (here both on the CPU)."""
    cache = open_input_cache("shelves", version.version, version.samples, 64)
    here = SegmentationDataset(version.samples, 64, MEAN, STD, augment=augment, seed=2, cache=cache)
    there = SegmentationDataset(version.samples, 64, MEAN, STD, augment=augment, seed=2, cache=cache,
                                device_side=True)
    here.set_epoch(5)
    there.set_epoch(5)
    for i in range(len(version.samples)):
        x, y, params = there[i]
        assert x.dtype == torch.uint8 and y.dtype == torch.uint8 and params.shape == (6,)
        fx, fy = finish_batch(x[None], y[None], params[None], MEAN, STD)
        ex, ey = here[i]
        torch.testing.assert_close(fx[0], ex, atol=1e-6, rtol=0)
        assert torch.equal(fy[0], ey)


def test_photometric_steps() -> None:
    rng = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 8, 10, generator=rng)
    y = torch.arange(80).reshape(8, 10)[None].repeat(3, 1, 1)
    identity = torch.tensor([[0, 0, 1, 1, 1, 0]] * 3, dtype=torch.float32)
    same, same_y = apply_photometric(x, y, identity)
    assert torch.equal(same, x) and torch.equal(same_y, y)
    flips = identity.clone()
    flips[0, 0] = 1  # sample 0: horizontal
    flips[1, 1] = 1  # sample 1: vertical
    out, out_y = apply_photometric(x, y, flips)
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out_y[0], y[0].flip(-1))
    assert torch.equal(out[1], x[1].flip(-2)) and torch.equal(out_y[1], y[1].flip(-2))
    assert torch.equal(out[2], x[2])
    hue = identity.clone()
    hue[:, 5] = 1.0  # a full turn of hue is no change
    torch.testing.assert_close(apply_photometric(x, None, hue)[0], x, atol=1e-5, rtol=0)
    jitter = torch.tensor([[0, 0, 1.3, 0.7, 1.3, 0.1]] * 3)
    jittered = apply_photometric(x, None, jitter)[0]
    assert 0 <= float(jittered.min()) and float(jittered.max()) <= 1 and not torch.allclose(jittered, x)
    params = np.stack([Photometric(hflip=0.5, jitter=0.3).draw(s) for s in range(200)])
    assert 0.35 < params[:, 0].mean() < 0.65 and (params[:, 1] == 0).all()  # no vflip asked for
    assert 0.7 < (params[:, 2] != 1).mean() < 0.9  # jitter with p 0.8
    assert np.abs(params[:, 5]).max() <= 0.075 + 1e-6


def test_persistent_workers_see_every_epoch(version) -> None:  # noqa: ANN001
    """Two worker processes kept across epochs give the batches a single process gives."""
    from torch.utils.data import DataLoader

    cache = open_input_cache("shelves", version.version, version.samples, 32)
    data = SegmentationDataset(version.samples, 32, MEAN, STD, augment=AUGMENT, seed=1, cache=cache)

    def batches(workers: int) -> list[torch.Tensor]:
        sampler = EpochShuffle(len(data), seed=1, tag_epoch=True)
        extra = {"persistent_workers": True} if workers else {}
        loader = DataLoader(EpochItems(data), batch_size=2, sampler=sampler, num_workers=workers, **extra)
        out = []
        for epoch in (1, 2, 3):
            sampler.set_epoch(epoch)
            out += [batch[0] for batch in loader]
        return out

    serial, parallel = batches(0), batches(2)
    assert len(serial) == 6 and all(torch.equal(a, b) for a, b in zip(serial, parallel))
    assert not torch.equal(serial[0], serial[2])  # epochs differ
