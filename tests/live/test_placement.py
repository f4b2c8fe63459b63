"""studio.live.placement: the sign classifier runs where it is fastest, measured; on a machine
without CUDA that is the CPU, chosen without timing. A real (random-init) SignGRU version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest


def sign_version(root: Path) -> Any:
    """A random-init SignGRU version on hands_pose156 windows of 32 frames, 5 glosses."""
    import torch

    from studio import registry
    from studio.keypoints.layout import HANDS_POSE156
    from studio.nets import create_model, preprocessing

    kwargs = {"input_dim": 156, "num_categories": 0}
    torch.manual_seed(0)
    model = create_model("sign_gru", num_classes=5, backbone=None, **kwargs)
    path = registry.save_checkpoint(root / "sign_gru.pt", model=model.state_dict())
    prep = {**preprocessing("sign_gru"), "layout": HANDS_POSE156.name, "dim": 156, "sequence_length": 32,
            "keypoint_layout": HANDS_POSE156.to_dict()}
    return registry.register_model(task="sequence", architecture="sign_gru", backbone="", dataset="signs",
                                   classes=[{"name": f"sign{k}", "index": k} for k in range(5)],
                                   files={"best": path}, preprocessing=prep, config={"model_kwargs": kwargs})


@pytest.fixture(scope="module")
def sign(module_studio: Path) -> Any:
    return sign_version(module_studio)


def test_without_cuda_the_cpu_is_chosen_untimed(sign: Any) -> None:
    from studio.live.placement import candidate_devices, fastest_device

    assert candidate_devices() == ["cpu"]  # this machine has no GPU
    assert fastest_device(sign.name, np.zeros((32, 156), np.float32)) == ("cpu", {})


def test_with_several_candidates_each_is_timed_and_the_fastest_kept(sign: Any) -> None:
    from studio.live.placement import fastest_device

    device, timings = fastest_device(sign.name, np.zeros((32, 156), np.float32), candidates=["cpu", "cpu:0"],
                                     iters=5)
    assert set(timings) == {"cpu", "cpu:0"} and all(ms > 0 for ms in timings.values())
    assert device == min(timings, key=timings.__getitem__)


def test_the_recognizer_runs_where_it_was_placed(sign: Any) -> None:
    from studio.live.sign import recognizer_for

    recognizer = recognizer_for(sign.name, stride=1)
    rng = np.random.default_rng(0)
    for _ in range(40):
        state = recognizer.feed(rng.standard_normal(156).astype(np.float32))
    assert state.status == "ready" and state.predictions >= 1 and len(state.top) == 3
