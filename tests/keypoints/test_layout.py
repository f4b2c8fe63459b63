"""Keypoint layouts: order, normalisation, missing parts, resampling, padding, custom layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.errors import InvalidInput
from studio.keypoints.layout import (HANDS126, HANDS_POSE156, KeypointLayout, frame_vector, get_layout,
                                     layout_for_dim, pad_batch, present, resample)


def _scene(shift: tuple[float, float] = (0.0, 0.0), zoom: float = 1.0) -> tuple[dict, np.ndarray]:
    """A signer (pose + right hand) in image coordinates, moved by ``shift`` and scaled by ``zoom`` about (0.5, 0.5)."""
    rng = np.random.default_rng(0)
    pose = np.column_stack([rng.uniform(0.3, 0.7, 33), rng.uniform(0.3, 0.9, 33), rng.uniform(-0.2, 0.2, 33)])
    pose[11, :2], pose[12, :2] = (0.62, 0.6), (0.38, 0.6)
    hand = np.column_stack([rng.uniform(0.3, 0.5, 21), rng.uniform(0.2, 0.5, 21), rng.uniform(-0.05, 0.05, 21)])

    def move(p: np.ndarray) -> np.ndarray:
        out = p.copy()
        out[:, :2] = (out[:, :2] - 0.5) * zoom + 0.5 + np.array(shift)
        out[:, 2] *= zoom
        return out

    return {"right": move(hand)}, move(pose)


def test_presets_have_the_documented_order_and_dims() -> None:
    assert HANDS126.dim == 126 and HANDS_POSE156.dim == 156
    names = [lm.name for lm in HANDS_POSE156.landmarks]
    assert names[0] == "left_wrist" and names[20] == "left_pinky_tip" and names[21] == "right_wrist"
    assert [(lm.source, lm.index) for lm in HANDS_POSE156.landmarks[42:]] == [
        ("pose", i) for i in (2, 5, 9, 10, 11, 12, 13, 14, 15, 16)]
    assert names[42:] == ["left_eye", "right_eye", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder",
                          "left_elbow", "right_elbow", "left_wrist", "right_wrist"]
    assert HANDS_POSE156.landmarks[:42] == HANDS126.landmarks
    assert layout_for_dim(126) is HANDS126 and layout_for_dim(156) is HANDS_POSE156
    with pytest.raises(InvalidInput, match=r"no keypoint layout has 100 values.*126 \(hands126\)"):
        layout_for_dim(100)
    assert HANDS_POSE156.slots("right_hand", 8) == slice(3 * 29, 3 * 30)


def test_image_normalisation_maps_the_image_to_minus_one_one() -> None:
    hand = np.zeros((21, 3))
    hand[:, 0], hand[:, 1], hand[:, 2] = np.linspace(0, 1, 21), 0.25, 0.1
    vec = frame_vector({"left": hand}, None, "hands126").reshape(42, 3)
    assert vec.dtype == np.float32
    np.testing.assert_allclose(vec[:21, 0], np.linspace(-1, 1, 21), atol=1e-6)
    np.testing.assert_allclose(vec[:21, 1], -0.5)
    np.testing.assert_allclose(vec[:21, 2], 0.2, atol=1e-6)  # z / 0.5
    assert not vec[21:].any()  # the right hand was not seen


def test_shoulder_normalisation_ignores_where_the_signer_stands_and_how_far() -> None:
    hands, pose = _scene()
    base = frame_vector(hands, pose, HANDS_POSE156)
    moved = frame_vector(*_scene(shift=(0.07, -0.05), zoom=0.6), HANDS_POSE156)
    np.testing.assert_allclose(moved, base, atol=1e-5)
    points = base.reshape(52, 3)
    np.testing.assert_allclose(points[46, :2], [0.5, 0.0], atol=1e-6)  # left shoulder: half a width right
    np.testing.assert_allclose(points[47, :2], [-0.5, 0.0], atol=1e-6)
    # hands126 keeps image positions: moving the signer changes the vector
    assert not np.allclose(frame_vector(*_scene(shift=(0.07, 0.0)), HANDS126), frame_vector(*_scene(), HANDS126))


def test_missing_parts_are_zeros_and_presence_is_recoverable() -> None:
    hands, pose = _scene()
    frames = np.stack([frame_vector(hands, pose), frame_vector({}, pose), frame_vector(hands, None),
                       frame_vector(None, None)])
    assert frames.shape == (4, 156)
    assert present(frames, HANDS_POSE156, "right_hand").tolist() == [True, False, True, False]
    assert present(frames, HANDS_POSE156, "left_hand").tolist() == [False] * 4
    assert present(frames, HANDS_POSE156, "pose").tolist() == [True, True, False, False]
    # without a pose the hands fall back to the image reference
    np.testing.assert_allclose(frames[2, 63:126].reshape(21, 3)[:, :2], (hands["right"][:, :2] - 0.5) / 0.5,
                               atol=1e-6)
    two_d = frame_vector({"Right": hands["right"][:, :2]}, None, HANDS126)  # 2D input: z = 0; "Right" as MediaPipe
    assert not two_d.reshape(42, 3)[21:, 2].any() and two_d.reshape(42, 3)[21:, :2].any()


@pytest.mark.parametrize("hands, pose, message", [
    ({"right": np.zeros((20, 3))}, None, r"right hand: expected \(21, 3\) or \(21, 2\) landmarks, got shape \(20, 3\)"),
    ({"middle": np.zeros((21, 3))}, None, r"unknown key\(s\) \['middle'\]"),
    (None, np.zeros((32, 3)), r"pose: expected \(33, 3\)"),
    ({"left": np.full((21, 3), np.nan)}, None, "left hand: expected finite coordinates"),
])
def test_bad_frames_name_what_was_expected(hands: dict, pose: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        frame_vector(hands, pose, HANDS_POSE156)


def test_resample_is_linear_in_time() -> None:
    seq = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0], [3.0, 40.0]], dtype=np.float32)
    np.testing.assert_allclose(resample(seq, 7)[:, 0], [0, 0.5, 1, 1.5, 2, 2.5, 3])
    np.testing.assert_allclose(resample(seq, 2), seq[[0, 3]])
    np.testing.assert_allclose(resample(seq, 4), seq)
    np.testing.assert_allclose(resample(seq[:1], 3), np.repeat(seq[:1], 3, 0))
    assert resample(seq, 1).shape == (1, 2) and resample(seq, 5).dtype == np.float32
    with pytest.raises(InvalidInput, match="expected at least one frame"):
        resample(np.zeros((0, 2)), 3)
    with pytest.raises(InvalidInput, match="expected an integer >= 1"):
        resample(seq, 0)


def test_pad_batch_pads_at_the_end_and_feeds_the_sequence_nets() -> None:
    from studio.nets import create_model

    a, b = np.ones((5, 126), np.float32), np.full((3, 126), 2.0, np.float32)
    x, lengths = pad_batch([a, b])
    assert x.shape == (2, 5, 126) and lengths.tolist() == [5, 3] and lengths.dtype == torch.int64
    assert float(x[1, 3:].abs().sum()) == 0.0 and float(x[1, :3].mean()) == 2.0
    assert pad_batch([a], length=8)[0].shape == (1, 8, 126)
    with pytest.raises(InvalidInput, match="at most 4"):
        pad_batch([a], length=4)
    with pytest.raises(InvalidInput, match="one value count per frame"):
        pad_batch([a, np.ones((2, 156))])
    model = create_model("sign_gru", num_classes=3, num_categories=2, input_dim=layout_for_dim(126).dim,
                         hidden_dim=8, num_layers=1).eval()
    out = model(x, lengths)
    assert out["gloss"].shape == (2, 3) and out["category"].shape == (2, 2)


def test_custom_layouts_round_trip_and_refuse_nonsense() -> None:
    spec = {"name": "tips", "normalise": "shoulders",
            "landmarks": [["right_hand", 8, "right_index_tip"], ["left_hand", 8], ["pose", 11], ["pose", 12]]}
    layout = get_layout(spec)
    assert layout.dim == 12 and layout.landmarks[1].name == "left_index_tip"
    assert KeypointLayout.from_dict(layout.to_dict()) == layout
    assert get_layout("hands_pose156") is HANDS_POSE156 and get_layout(HANDS126.to_dict()) is HANDS126
    hands, pose = _scene()
    vec = frame_vector(hands, pose, layout).reshape(4, 3)
    np.testing.assert_allclose(vec[0], frame_vector(hands, pose, HANDS_POSE156).reshape(52, 3)[29])
    for bad, message in [({"name": "x", "landmarks": [["face", 0]]}, "source 'face'"),
                         ({"name": "x", "landmarks": [["pose", 33]]}, r"pose index 33; expected 0\.\.32"),
                         ({"name": "x", "landmarks": [["pose", 1], ["pose", 1]]}, "listed twice"),
                         ({"name": "x", "landmarks": [["pose", 1]], "dim": 6}, "dim 6 does not match"),
                         ({"name": "x", "landmarks": [["pose", 1]], "normalise": "hips"}, "normalise 'hips'"),
                         ({"name": "hands126", "landmarks": [["pose", 1]]}, "is a preset name"),
                         ("hands_pose_156", "unknown keypoint layout")]:
        with pytest.raises(InvalidInput, match=message):
            get_layout(bad)
