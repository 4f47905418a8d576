"""Attention on (T, E) sequences: multi-head self-attention, transformer encoder, positions."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from dlcli.nn.base import Args, Layer, ShapeError, fmt, layers, one_tensor
from dlcli.nn.init import InitField, InitName


def embed_dim(name: str, s, heads: int) -> tuple:
    """The (T, E) input of an attention layer, with E known and split evenly over the heads."""
    s = one_tensor(name, s, 2, "(T, E)")
    if s[1] is None:
        raise ShapeError(f"{name} needs a known embedding axis but gets {fmt(s)}")
    if s[1] % heads:
        raise ShapeError(f"{name} splits E = {s[1]} of input {fmt(s)} over {heads} heads, but {s[1]} % {heads} != 0")
    return s


class AttentionArgs(Args):
    heads: int = Field(1, ge=1, description="attention heads; E must be a multiple of it")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="on the attention weights")
    causal: bool = Field(False, description="position t attends only to positions <= t")
    init: InitName = InitField


@layers.register("attention")
class Attention(Layer):
    """Multi-head scaled dot-product self-attention with output projection: (T, E) -> (T, E)."""

    Args = AttentionArgs
    main = "heads"
    has_weights = True

    def shape(self, a, s, ctx):
        return embed_dim("attention", s, a.heads)

    def build(self, node, ctx):
        from dlcli.nn._torch_modules import SelfAttention

        a = node.args
        return SelfAttention(node.in_shape[1], a.heads, a.dropout, a.causal)


class StackArgs(Args):
    """A stack of transformer layers (the encoder's; the decoder's in cross_attention.py)."""

    depth: int = Field(2, ge=1, description="number of layers")
    heads: int = Field(4, ge=1, description="attention heads; E must be a multiple of it")
    ff: Optional[int] = Field(None, ge=1, description="feed-forward width; default 4*E")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    activation: Literal["relu", "gelu"] = "relu"
    norm_first: bool = Field(False, description="pre-LN (adds a final layernorm) instead of post-LN")
    init: InitName = InitField


class EncoderArgs(StackArgs):
    causal: bool = Field(False, description="position t attends only to positions <= t")


@layers.register("transformer_encoder")
class TransformerEncoder(Layer):
    """A stack of `depth` transformer encoder layers (self-attention + feed-forward, residual, layernorm): (T, E) -> (T, E)."""

    Args = EncoderArgs
    main = "depth"
    has_weights = True

    def shape(self, a, s, ctx):
        return embed_dim("transformer_encoder", s, a.heads)

    def build(self, node, ctx):
        from torch import nn

        from dlcli.nn._torch_modules import Encoder

        a, dim = node.args, node.in_shape[1]
        layer = nn.TransformerEncoderLayer(dim, a.heads, a.ff or 4 * dim, a.dropout, a.activation,
                                           batch_first=True, norm_first=a.norm_first)
        # pre-LN stacks leave the residual stream unnormalised: close them with a layernorm
        norm = nn.LayerNorm(dim) if a.norm_first else None
        # nested tensors only serve padding masks, which dlcli does not pass; off avoids torch's warning
        return Encoder(nn.TransformerEncoder(layer, a.depth, norm=norm, enable_nested_tensor=False), a.causal)


class PositionalArgs(Args):
    kind: Literal["sinusoidal", "learned"] = Field("sinusoidal", description="fixed sin/cos or a learned table")
    max_len: int = Field(512, ge=1, description="longest sequence a learned table covers")
    init: InitName = InitField


@layers.register("positional")
class Positional(Layer):
    """Add a positional encoding (fixed sinusoidal, or learned up to max_len) to (T, E) -> (T, E)."""

    Args = PositionalArgs
    main = "kind"
    has_weights = True  # the learned table; the sinusoidal encoding has none

    def shape(self, a, s, ctx):
        s = one_tensor("positional", s, 2, "(T, E)")
        if s[1] is None:
            raise ShapeError(f"positional needs a known embedding axis but gets {fmt(s)}")
        if a.kind == "learned" and s[0] is not None and s[0] > a.max_len:
            raise ShapeError(f"positional (learned) covers {a.max_len} positions but gets {fmt(s)}; raise max_len")
        return s

    def build(self, node, ctx):
        from dlcli.nn._torch_modules import LearnedPositions, SinusoidalPositions

        dim = node.in_shape[1]
        if node.args.kind == "learned":
            return LearnedPositions(node.args.max_len, dim)
        return SinusoidalPositions(dim)
