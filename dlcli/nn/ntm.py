"""A neural Turing machine (Graves et al. 2014, arXiv:1410.5401) as a layer and an architecture.

Planning is pure Python here; the torch modules are in dlcli/nn/_ntm_modules.py, imported by
`build` only.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from dlcli.nn.base import Args, Layer, ShapeError, architectures, fmt, layers, one_tensor
from dlcli.nn.init import InitField, InitName


class _MemoryArgs(Args):
    memory: int = Field(32, ge=2, description="memory rows N")
    width: int = Field(16, ge=1, description="width M of each memory row (and of each read vector)")
    controller: int = Field(100, ge=1, description="hidden size C of the LSTM controller")
    read_heads: int = Field(1, ge=1, description="read heads R; each adds M features to the output")
    write_heads: int = Field(1, ge=1, description="write heads, applied one after another at each step")
    shift: int = Field(1, ge=0, description="largest rotation a head may make per step: shifts -shift..shift")

    @model_validator(mode="after")
    def _shifts_fit_the_memory(self):
        if 2 * self.shift + 1 > self.memory:
            s = self.shift
            raise ValueError(f"shift = {s} allows {2 * s + 1} rotations (-{s}..{s}) "
                             f"but memory has {self.memory} rows, so some would wrap onto others: lower shift to at "
                             f"most {(self.memory - 1) // 2} or raise memory to at least {2 * self.shift + 1}")
        return self


class NTMArgs(_MemoryArgs):
    init: InitName = InitField


@layers.register("ntm")
class NTM(Layer):
    """Neural Turing machine (Graves et al. 2014): LSTM controller with read/write heads on an N x M memory, (T, F) -> (T, C + R*M).

    At each step t the controller (an LSTMCell) reads [x_t, r_{t-1}] and gives h_t; every head
    addresses the memory by content (cosine, sharpened by beta), interpolates with its last
    weighting (gate g), rotates it (shift weights s) and sharpens it (gamma), as in the paper's
    section 3.3. Within a step the heads WRITE FIRST, then READ: write heads address M_{t-1} and
    apply M <- M * (1 - w e^T) + w a^T one after another; read heads then address and read
    M_t, so the output concat(h_t, r_t) already sees what x_t wrote (r_t also feeds step t+1).
    The memory starts at the constant 1e-6 (Collier & Beel 2018: constant init learns fastest);
    the first read vectors and head weightings are learned, the weightings as a softmax of
    learned logits started near a one-hot on row 0: with a constant memory a uniform start could
    never tell rows apart. Memory, weightings and reads stay float32 under autocast.

    The steps run as a Python loop over T, so an ONNX export unrolls it: the graph takes the
    example's length only (the exporter notes the sequence axis as fixed).
    """

    Args = NTMArgs
    main = "memory"
    has_weights = True
    unrolls_time = True

    def shape(self, a, s, ctx):
        s = one_tensor("ntm", s, 2, "(T, F)")
        if s[1] is None:
            raise ShapeError(f"ntm needs a known feature axis but gets {fmt(s)}")
        return (s[0], a.controller + a.read_heads * a.width)

    def build(self, node, ctx):
        from dlcli.nn._ntm_modules import NTMModule

        a = node.args
        return NTMModule(node.in_shape[1], a.memory, a.width, a.controller, a.read_heads, a.write_heads, a.shift)


class NTMModelArgs(_MemoryArgs):
    embed: int = Field(16, ge=1, description="size of each token's embedding vector")


@architectures.register("ntm")
class NTMModel:
    """Neural Turing machine on token ids: embedding, the `ntm` layer, linear auto: (T,) ids -> (T, vocab) scores."""

    Args = NTMModelArgs

    def layers(self, a: NTMModelArgs) -> list:
        ntm = a.model_dump(exclude={"embed"}, exclude_defaults=True)
        return [{"embedding": {"dim": a.embed}}, {"ntm": ntm}, {"linear": "auto"}]
