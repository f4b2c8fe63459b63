"""studio.nets.sequence: the export path of SignTransformer computes what the library layers do
(its ONNX export at other lengths is tested in tests/test_exporting.py)."""

from __future__ import annotations

import pytest
import torch

from studio.nets import create_model
from studio.nets.sequence import traceable_encoder


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_traceable_encoder_matches_the_library_layers(pooling: str) -> None:
    torch.manual_seed(0)
    model = create_model("sign_transformer", num_classes=4, backbone=None, input_dim=10, emb_dim=24, num_heads=4,
                         num_layers=3, pooling=pooling).eval()
    h = torch.randn(3, 11, 24)
    pad = torch.arange(11)[None, :] >= torch.tensor([11, 7, 1])[:, None]
    with torch.no_grad():
        for mask in (None, pad):
            expected = model.encoder(h, src_key_padding_mask=mask)
            got = traceable_encoder(model.encoder, h, mask)
            real = slice(None) if mask is None else ~mask  # padded positions are never read
            assert torch.allclose(got[real], expected[real], atol=1e-5), float((got - expected)[real].abs().max())

