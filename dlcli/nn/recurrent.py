"""Recurrent layers on (T, F) sequences: rnn, lstm, gru (batch first; T may be dynamic)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, create_model

from dlcli.nn.base import Args, Layer, ShapeError, fmt, layers, one_tensor
from dlcli.nn.init import InitField, InitName


class _RecurrentBase(Args):
    hidden: int = Field(ge=1, description="hidden size per direction")
    num_layers: int = Field(1, ge=1, description="stacked recurrent layers")
    bidirectional: bool = False
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="between stacked layers; unused with num_layers 1")
    init: InitName = InitField


# `return` is a Python keyword, so the field is added by name rather than in a class body;
# users write `return: all`, and error messages name that key, not a mangled one.
_RETURN = (Literal["sequence", "last", "all"],
           Field("last", description="sequence (T, H*dirs), last (H*dirs,), or all: both as two outputs"))
RecurrentArgs = create_model("RecurrentArgs", __base__=_RecurrentBase, **{"return": _RETURN})
RNNArgs = create_model("RNNArgs", __base__=RecurrentArgs, nonlinearity=(Literal["tanh", "relu"], "tanh"))


class _Recurrent(Layer):
    """Shared by rnn, lstm and gru, which differ in the torch.nn class they build."""

    Args = RecurrentArgs
    main = "hidden"
    has_weights = True
    name: str
    torch_name: str

    def shape(self, a, s, ctx):
        s = one_tensor(self.name, s, 2, "(T, F)")
        if s[1] is None:
            raise ShapeError(f"{self.name} needs a known feature axis but gets {fmt(s)}")
        width = a.hidden * (2 if a.bidirectional else 1)
        sequence, last = (s[0], width), (width,)
        returns = getattr(a, "return")
        return {"sequence": sequence, "last": last, "all": [sequence, last]}[returns]

    def build(self, node, ctx):
        from torch import nn

        from dlcli.nn._torch_modules import Recurrent

        a = node.args
        extra = {"nonlinearity": a.nonlinearity} if self.name == "rnn" else {}
        # torch warns about dropout on a single layer, where it has nothing to act between
        dropout = a.dropout if a.num_layers > 1 else 0.0
        rnn = getattr(nn, self.torch_name)(node.in_shape[1], a.hidden, num_layers=a.num_layers, batch_first=True,
                                           bidirectional=a.bidirectional, dropout=dropout, **extra)
        return Recurrent(rnn, getattr(a, "return"))


@layers.register("rnn")
class RNN(_Recurrent):
    """Elman RNN h_t = act(W x_t + U h_{t-1} + b) on (T, F) -> (T, H*d) states, (H*d,) last state, or both; d = 2 if bidirectional."""

    Args = RNNArgs
    name, torch_name = "rnn", "RNN"


@layers.register("lstm")
class LSTM(_Recurrent):
    """Long short-term memory (LSTM) on (T, F) -> (T, H*d) states, (H*d,) last state, or both; d = 2 if bidirectional."""

    name, torch_name = "lstm", "LSTM"


@layers.register("gru")
class GRU(_Recurrent):
    """Gated recurrent unit (GRU) on (T, F) -> (T, H*d) states, (H*d,) last state, or both; d = 2 if bidirectional."""

    name, torch_name = "gru", "GRU"
