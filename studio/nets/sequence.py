"""Sequence classification for sign language: keypoint sequences or raw clips -> gloss (+ category).

Contract (all three)::

    model = create_model("sign_transformer", num_classes=G, num_categories=K, input_dim=156)
    out = model(x, lengths)
    # x: (B, T, D) float32 keypoints per frame ("sign_transformer", "sign_gru"),
    #    or (B, T, 3, H, W) float32 normalised RGB frames ("frame_cnn_gru")
    # lengths: (B,) int64 real frames per sample, 1 <= lengths <= T, or None (all T frames are real)
    # out: {"gloss": (B, G) float32 logits, "category": (B, K) float32 logits}
    #      "category" is absent when num_categories is 0 or None

Frames at positions >= lengths[b] are padding: they are zeroed before anything reads them,
masked out of attention (key padding mask), skipped by the GRU (packed sequences) and left out of
pooling, so their content (even NaN) never changes the result for the real frames. In eval mode
a sample padded with any frames gives the same logits as the unpadded sample.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from studio.errors import InvalidInput
from studio.nets.classification import conv_blocks
from studio.nets.registry import clip_input, keypoints_input, register_architecture

OUTPUT = ('{"gloss": (B, num_classes) float32 logits, "category": (B, num_categories) float32 logits}; '
          '"category" only when num_categories > 0')


def _checking() -> bool:
    """Value checks need Python numbers; skip them while tracing / exporting / compiling."""
    return not (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling())


def padding_mask(lengths: torch.Tensor | None, batch: int, steps: int, device: torch.device) -> torch.Tensor | None:
    """(B, T) bool, True at padding (t >= lengths[b]); None when ``lengths`` is None.

    InvalidInput unless lengths is (B,) integer with 1 <= lengths <= T.
    """
    if lengths is None:
        return None
    if not isinstance(lengths, torch.Tensor) or lengths.shape != (batch,) or lengths.dtype.is_floating_point:
        raise InvalidInput(f"lengths: expected a ({batch},) int64 tensor, got "
                           f"{tuple(lengths.shape) if isinstance(lengths, torch.Tensor) else type(lengths).__name__}"
                           f"{' ' + str(lengths.dtype) if isinstance(lengths, torch.Tensor) else ''}")
    if _checking() and batch and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
        raise InvalidInput(f"lengths: expected values in [1, {steps}] (T), got min {int(lengths.min())} "
                           f"max {int(lengths.max())}")
    return torch.arange(steps, device=device)[None, :] >= lengths.to(device)[:, None]


def masked_mean(h: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
    """(B, T, E) -> (B, E): mean over the real frames (all frames when ``pad`` is None)."""
    if pad is None:
        return h.mean(1)
    keep = (~pad).unsqueeze(-1).to(h.dtype)
    return (h * keep).sum(1) / keep.sum(1).clamp_min(1.0)


class _Heads(nn.Module):
    """Gloss head and optional category head on a pooled (B, E) feature."""

    def __init__(self, features: int, num_classes: int, num_categories: int | None, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.gloss = nn.Linear(features, num_classes)
        self.category = nn.Linear(features, num_categories) if num_categories else None

    def forward(self, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.dropout(pooled)
        out = {"gloss": self.gloss(pooled)}
        if self.category is not None:
            out["category"] = self.category(pooled)
        return out


def _check_categories(name: str, num_categories: int | None) -> int:
    if num_categories is None:
        return 0
    if isinstance(num_categories, bool) or not isinstance(num_categories, int) or num_categories < 0:
        raise InvalidInput(f"{name}: num_categories must be an integer >= 0 or None, got {num_categories!r}")
    return num_categories


def _check_keypoints(name: str, x: torch.Tensor, input_dim: int) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[-1] != input_dim or not x.is_floating_point():
        raise InvalidInput(f"{name}: expected x of shape (B, T, {input_dim}) float32, got "
                           f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}"
                           f"{' ' + str(x.dtype) if isinstance(x, torch.Tensor) else ''}")


def sinusoidal_positions(steps: int, dim: int) -> torch.Tensor:
    """(steps, dim) float32 sine/cosine position encodings (Vaswani et al. 2017)."""
    position = torch.arange(steps, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(steps, dim)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)[:, : dim // 2]
    return table


def traceable_encoder(encoder: nn.TransformerEncoder, h: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
    """``encoder(h, src_key_padding_mask=pad)`` for SignTransformer's layers (batch_first,
    norm_first, eval mode), written so that tracing keeps B and T symbolic.

    h: (B, T, E) float32; pad: (B, T) bool, True at padding, or None -> (B, T, E). The legacy
    ONNX exporter bakes ``nn.MultiheadAttention``'s reshapes to the traced sizes, so an export
    of the library layers fails at any other T or B; this is the same arithmetic with
    size-free reshapes and ``scaled_dot_product_attention`` (dropout off: export is eval-only).
    """
    import torch.nn.functional as F

    keep = None if pad is None else ~pad[:, None, None, :]  # (B, 1, 1, T) True = attend
    for layer in encoder.layers:
        attn = layer.self_attn
        q, k, v = F.linear(layer.norm1(h), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.unflatten(-1, (attn.num_heads, -1)).transpose(1, 2) for t in (q, k, v))  # (B, H, T, E/H)
        mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=keep).transpose(1, 2).flatten(2)
        h = h + attn.out_proj(mixed)
        h = h + layer.linear2(layer.activation(layer.linear1(layer.norm2(h))))
    return h if encoder.norm is None else encoder.norm(h)


class SignTransformer(nn.Module):
    """Transformer encoder over keypoint frames, pooled (masked mean or CLS token), two heads.

    x (B, T, input_dim) float32, lengths (B,) int64 | None -> {"gloss": (B, num_classes), "category": ...}.
    T must be <= max_len.
    """

    def __init__(self, num_classes: int, num_categories: int | None = None, input_dim: int = 156, emb_dim: int = 128,
                 num_heads: int = 4, num_layers: int = 2, ff_dim: int | None = None, dropout: float = 0.1,
                 max_len: int = 256, positions: str = "learned", pooling: str = "mean"):
        super().__init__()
        if positions not in ("learned", "sinusoidal"):
            raise InvalidInput(f"sign_transformer: positions must be 'learned' or 'sinusoidal', got {positions!r}")
        if pooling not in ("mean", "cls"):
            raise InvalidInput(f"sign_transformer: pooling must be 'mean' or 'cls', got {pooling!r}")
        if emb_dim % num_heads:
            raise InvalidInput(f"sign_transformer: emb_dim ({emb_dim}) must be divisible by num_heads ({num_heads})")
        if input_dim < 1 or max_len < 1:
            raise InvalidInput(f"sign_transformer: input_dim and max_len must be >= 1, got {input_dim}, {max_len}")
        self.input_dim, self.max_len, self.pooling = input_dim, max_len, pooling
        self.embed = nn.Sequential(nn.Linear(input_dim, emb_dim), nn.LayerNorm(emb_dim))
        slots = max_len + (1 if pooling == "cls" else 0)
        if positions == "learned":
            self.positions = nn.Parameter(torch.zeros(1, slots, emb_dim))
            nn.init.trunc_normal_(self.positions, std=0.02)
        else:
            self.register_buffer("positions", sinusoidal_positions(slots, emb_dim)[None], persistent=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, emb_dim)) if pooling == "cls" else None
        layer = nn.TransformerEncoderLayer(emb_dim, num_heads, ff_dim or 4 * emb_dim, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(emb_dim)
        self.heads = _Heads(emb_dim, num_classes, num_categories, dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        _check_keypoints("sign_transformer", x, self.input_dim)
        batch, steps, _ = x.shape
        if _checking() and steps > self.max_len:
            raise InvalidInput(f"sign_transformer: expected at most max_len={self.max_len} frames, got T={steps}")
        pad = padding_mask(lengths, batch, steps, x.device)
        if pad is not None:
            x = x.masked_fill(pad[..., None], 0.0)
        h = self.embed(x)
        if self.cls_token is not None:
            h = torch.cat([self.cls_token.expand(batch, -1, -1), h], 1)
            if pad is not None:
                pad = torch.cat([pad.new_zeros(batch, 1), pad], 1)
        h = h + self.positions[:, : h.shape[1]]
        if torch.jit.is_tracing():  # ONNX / TorchScript export: keep B and T dynamic
            h = self.norm(traceable_encoder(self.encoder, h, pad))
        else:
            h = self.norm(self.encoder(h, src_key_padding_mask=pad))
        pooled = h[:, 0] if self.cls_token is not None else masked_mean(h, pad)
        return self.heads(pooled)


class _GRUEncoder(nn.Module):
    """(B, T, F) per-frame features -> (B, H*dirs) masked mean of the (bi)GRU outputs over real frames."""

    def __init__(self, features: int, hidden_dim: int, num_layers: int, bidirectional: bool, dropout: float):
        super().__init__()
        self.gru = nn.GRU(features, hidden_dim, num_layers, batch_first=True, bidirectional=bidirectional,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.out_features = hidden_dim * (2 if bidirectional else 1)

    def forward(self, h: torch.Tensor, lengths: torch.Tensor | None, pad: torch.Tensor | None) -> torch.Tensor:
        if lengths is None:
            out, _ = self.gru(h)
            return out.mean(1)
        packed = pack_padded_sequence(h, lengths.detach().cpu().long(), batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=h.shape[1])
        return masked_mean(out, pad)


class SignGRU(nn.Module):
    """Per-frame MLP then a (bi)GRU over keypoint frames, masked mean of its outputs, two heads.

    x (B, T, input_dim) float32, lengths (B,) int64 | None -> {"gloss": (B, num_classes), "category": ...}.
    """

    def __init__(self, num_classes: int, num_categories: int | None = None, input_dim: int = 156,
                 hidden_dim: int = 128, num_layers: int = 2, bidirectional: bool = True, dropout: float = 0.1):
        super().__init__()
        if input_dim < 1 or hidden_dim < 1 or num_layers < 1:
            raise InvalidInput(f"sign_gru: input_dim, hidden_dim and num_layers must be >= 1, "
                               f"got {input_dim}, {hidden_dim}, {num_layers}")
        self.input_dim = input_dim
        self.embed = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU(),
                                   nn.Dropout(dropout))
        self.encoder = _GRUEncoder(hidden_dim, hidden_dim, num_layers, bidirectional, dropout)
        self.heads = _Heads(self.encoder.out_features, num_classes, num_categories, dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        _check_keypoints("sign_gru", x, self.input_dim)
        pad = padding_mask(lengths, x.shape[0], x.shape[1], x.device)
        if pad is not None:
            x = x.masked_fill(pad[..., None], 0.0)
        return self.heads(self.encoder(self.embed(x), lengths, pad))


class FrameCNNGRU(nn.Module):
    """A small CNN per frame (real frames only), a (bi)GRU over the frame features, two heads.

    x (B, T, 3, H, W) float32 normalised RGB (H, W >= 2 ** len(channels)), lengths (B,) int64 | None
    -> {"gloss": (B, num_classes), "category": ...}.
    """

    def __init__(self, num_classes: int, num_categories: int | None = None, channels: tuple[int, ...] = (16, 32, 64),
                 hidden_dim: int = 128, num_layers: int = 1, bidirectional: bool = True, dropout: float = 0.1):
        super().__init__()
        blocks, previous = conv_blocks(channels)
        self.frame_cnn = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.frame_features = previous
        self.encoder = _GRUEncoder(previous, hidden_dim, num_layers, bidirectional, dropout)
        self.heads = _Heads(self.encoder.out_features, num_classes, num_categories, dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if not isinstance(x, torch.Tensor) or x.ndim != 5 or x.shape[2] != 3 or not x.is_floating_point():
            raise InvalidInput(f"frame_cnn_gru: expected x of shape (B, T, 3, H, W) float32, got "
                               f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        batch, steps = x.shape[:2]
        pad = padding_mask(lengths, batch, steps, x.device)
        if pad is None:
            feats = self.frame_cnn(x.flatten(0, 1)).view(batch, steps, -1)
        else:  # run the CNN on real frames only: padding never reaches BatchNorm statistics
            real = ~pad
            feats = x.new_zeros(batch, steps, self.frame_features)
            feats[real] = self.frame_cnn(x[real]).to(feats.dtype)
        return self.heads(self.encoder(feats, lengths, pad))


@register_architecture("sign_transformer", task="sequence", input=keypoints_input(), output=OUTPUT)
def sign_transformer(*, num_classes: int, backbone: None, pretrained: bool | Path, num_categories: int | None = None,
                     input_dim: int = 156, emb_dim: int = 128, num_heads: int = 4, num_layers: int = 2,
                     ff_dim: int | None = None, dropout: float = 0.1, max_len: int = 256, positions: str = "learned",
                     pooling: str = "mean") -> nn.Module:
    """Transformer encoder over keypoint frames (learned or sinusoidal positions; mean or CLS pooling)."""
    return SignTransformer(num_classes, _check_categories("sign_transformer", num_categories), input_dim, emb_dim,
                           num_heads, num_layers, ff_dim, dropout, max_len, positions, pooling)


@register_architecture("sign_gru", task="sequence", input=keypoints_input(), output=OUTPUT)
def sign_gru(*, num_classes: int, backbone: None, pretrained: bool | Path, num_categories: int | None = None,
             input_dim: int = 156, hidden_dim: int = 128, num_layers: int = 2, bidirectional: bool = True,
             dropout: float = 0.1) -> nn.Module:
    """(Bi)GRU over keypoint frames, masked mean pooling."""
    return SignGRU(num_classes, _check_categories("sign_gru", num_categories), input_dim, hidden_dim, num_layers,
                   bidirectional, dropout)


@register_architecture("frame_cnn_gru", task="sequence", input=clip_input(min_size=8), output=OUTPUT)
def frame_cnn_gru(*, num_classes: int, backbone: None, pretrained: bool | Path, num_categories: int | None = None,
                  channels: tuple[int, ...] = (16, 32, 64), hidden_dim: int = 128, num_layers: int = 1,
                  bidirectional: bool = True, dropout: float = 0.1) -> nn.Module:
    """A small per-frame CNN and a (bi)GRU over raw RGB clips."""
    return FrameCNNGRU(num_classes, _check_categories("frame_cnn_gru", num_categories), tuple(channels), hidden_dim,
                       num_layers, bidirectional, dropout)
