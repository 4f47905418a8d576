"""Layers of a seq2seq decoder that read the encoder's output ("memory", (S, E_mem) per sample):
cross_attention (dot-product or additive, Luong's and Bahdanau's) and transformer_decoder.

Planning sees the memory's shape in ctx.memory (the seq2seq task plans the encoder first); at run
time the task hands the memory to every such module before it runs the decoder
(dlcli/nn/_seq2seq_modules.py: `attending`), so they may sit anywhere in the decoder's layers.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from dlcli.nn.attention import StackArgs
from dlcli.nn.base import Args, Layer, ShapeError, fmt, layers, one_tensor
from dlcli.nn.init import InitField, InitName

READS_MEMORY = {"cross_attention", "transformer_decoder"}  # layer names that attend over an encoder's output


def memory_shape(name: str, ctx) -> tuple:
    """The (S, E_mem) encoder output a layer attends over, or a ShapeError saying where it belongs."""
    m = ctx.memory
    if m is None:
        raise ShapeError(f"{name} attends over an encoder's output, and this network reads none: it belongs in "
                         f"the decoder of a seq2seq task (models: {{encoder: [...], decoder: [...]}})")
    if isinstance(m, list) or len(m) != 2 or m[1] is None:
        raise ShapeError(f"{name} attends over a sequence of encoder states (S, E), but the encoder gives "
                         f"{fmt(m)}: end the encoder with a layer that keeps the sequence (an rnn/lstm/gru with "
                         f"`return: sequence`, attention or transformer_encoder)")
    return m


class CrossAttentionArgs(Args):
    score: Literal["dot", "additive"] = Field("dot", description="dot: scaled dot product of projected query "
                                              "and keys (Luong); additive: v.tanh(W q + U k) (Bahdanau)")
    heads: int = Field(1, ge=1, description="attention heads (dot score); E_mem must be a multiple of it")
    dim: Optional[int] = Field(None, ge=1, description="width of the additive score's hidden layer (default E_mem)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="on the attention weights")
    init: InitName = InitField


@layers.register("cross_attention")
class CrossAttention(Layer):
    """Each decoder position attends over the encoder's states: (T, E) -> (T, E + E_mem), its input then its context vector.

    The context is a weighted mean of the encoder states (through a value and output projection
    for `dot`, the raw states for `additive`), concatenated to the query as in Luong et al. 2015;
    a `linear` (and `tanh`) after it makes their attentional hidden state.
    """

    Args = CrossAttentionArgs
    main = "score"
    has_weights = True

    def shape(self, a, s, ctx):
        s = one_tensor("cross_attention", s, 2, "(T, E)")
        mem = memory_shape("cross_attention", ctx)
        if s[1] is None:
            raise ShapeError(f"cross_attention needs a known feature axis but gets {fmt(s)}")
        if a.score == "additive" and a.heads != 1:
            raise ShapeError(f"cross_attention's additive score has one head, got heads {a.heads}: use score: dot "
                             f"for several")
        if mem[1] % a.heads:
            raise ShapeError(f"cross_attention splits E_mem = {mem[1]} of the encoder output {fmt(mem)} over "
                             f"{a.heads} heads, but {mem[1]} % {a.heads} != 0")
        return (s[0], s[1] + mem[1])

    def build(self, node, ctx):
        from dlcli.nn._seq2seq_modules import AdditiveAttention, DotAttention

        a, query, mem = node.args, node.in_shape[1], ctx.memory[1]
        if a.score == "additive":
            return AdditiveAttention(query, mem, a.dim or mem, a.dropout)
        return DotAttention(query, mem, a.heads, a.dropout)


@layers.register("transformer_decoder")
class TransformerDecoder(Layer):
    """`depth` transformer decoder layers (causal self-attention, attention over the encoder, feed-forward; residual, layernorm): (T, E) -> (T, E).

    Vaswani et al. 2017. The encoder's output must have the same width E (end the encoder with a
    transformer_encoder on the same embedding width, or a linear to E).
    """

    Args = StackArgs
    main = "depth"
    has_weights = True

    def shape(self, a, s, ctx):
        s = one_tensor("transformer_decoder", s, 2, "(T, E)")
        mem = memory_shape("transformer_decoder", ctx)
        if s[1] is None or s[1] % a.heads:
            raise ShapeError(f"transformer_decoder splits E of its input {fmt(s)} over {a.heads} heads: E must be "
                             f"known and a multiple of heads")
        if mem[1] != s[1]:
            raise ShapeError(f"transformer_decoder attends over an encoder output of width {mem[1]} {fmt(mem)} from "
                             f"a stream of width {s[1]} {fmt(s)}: make them equal (the same embedding width on both "
                             f"sides, or end the encoder with `linear: {s[1]}`)")
        return s

    def build(self, node, ctx):
        from dlcli.nn._seq2seq_modules import Decoder

        a, dim = node.args, node.in_shape[1]
        return Decoder(dim, a.depth, a.heads, a.ff or 4 * dim, a.dropout, a.activation, a.norm_first)
