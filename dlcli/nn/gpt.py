"""A GPT language model as one layer (nanoGPT, Karpathy): token ids in, next-token logits out.

Planning is pure Python here; the torch modules are in dlcli/nn/_gpt_modules.py, imported by
`build` only.
"""
from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from dlcli.nn.base import Args, Layer, ShapeError, fmt, layers, one_tensor
from dlcli.nn.dense import token_vocab
from dlcli.nn.init import InitField, InitName


class GPTArgs(Args):
    n_layer: int = Field(4, ge=1, description="transformer blocks")
    n_head: int = Field(4, ge=1, description="attention heads; n_embd must be a multiple of it")
    n_embd: int = Field(128, ge=1, description="width of the residual stream (embedding size)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="on the embeddings, attention weights and residual branches")
    block_size: int = Field(256, ge=1, description="longest sequence: the positions the position embedding covers")
    bias: bool = Field(True, description="biases in the linears and layernorms")
    tie_weights: bool = Field(True, description="the output head shares the token embedding's weights")
    vocab: Optional[int] = Field(None, ge=1, description="number of token ids; default: the data's vocabulary")
    init: InitName = InitField

    @model_validator(mode="after")
    def _heads_divide_width(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd = {self.n_embd} does not split over n_head = {self.n_head} heads: "
                             f"{self.n_embd} % {self.n_head} != 0; make n_embd a multiple of n_head")
        return self


@layers.register("gpt")
class GPT(Layer):
    """nanoGPT decoder: token + position embedding, n_layer pre-LN causal blocks, layernorm, lm_head: (T,) ids -> (T, vocab).

    Initialised as nanoGPT: N(0, 0.02) linear and embedding weights, zero biases, and the
    residual projections N(0, 0.02/sqrt(2*n_layer)). A model-wide `init` (or this layer's
    `init`) replaces that, as it does for every weighted layer, residual scaling included.
    """

    Args = GPTArgs
    main = "n_layer"
    has_weights = True

    def shape(self, a, s, ctx):
        s = one_tensor("gpt", s, 1, "(T,) token ids")
        if s[0] is not None and s[0] > a.block_size:
            raise ShapeError(f"gpt covers block_size = {a.block_size} positions but gets {s[0]} tokens {fmt(s)}: "
                             f"raise block_size to at least {s[0]}, or feed windows of at most {a.block_size}")
        # the node keeps these args: resolving here hands the builder the size, whatever builds it
        a.vocab = token_vocab(a.vocab, ctx, "gpt", "`gpt: {vocab: N}`")
        return (s[0], a.vocab)

    def build(self, node, ctx):
        from dlcli.nn._gpt_modules import GPTModule

        a = node.args
        return GPTModule(a.vocab, a.block_size, a.n_layer, a.n_head, a.n_embd, a.dropout, a.bias, a.tie_weights)

