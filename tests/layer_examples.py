"""One small example per registered layer, shared by the nn and export contract tests.

A new layer without an entry here fails tests/nn `test_every_layer_has_an_example`.
"""
import torch

T = None  # a dynamic (sequence length) axis
SEQ = 7  # the length fed where the planned shape says T
VOCAB = 11  # the token ids of the examples that look them up
TOKEN_IDS = {"embedding", "gpt"}  # layers fed integer token ids 0 .. VOCAB-1

# name -> (layer item, per-sample input shape); a list of shapes means several inputs
EXAMPLES = {
    "linear": ({"linear": 6}, (4,)),
    "flatten": ("flatten", (2, 3, 4)),
    "dropout": ({"dropout": 0.3}, (2, 5)),
    "reshape": ({"reshape": [3, -1]}, (2, 3, 4)),
    "embedding": ({"embedding": {"vocab": VOCAB, "dim": 6}}, (T,)),
    "gpt": ({"gpt": {"n_layer": 1, "n_head": 2, "n_embd": 8, "block_size": 16, "vocab": VOCAB}}, (T,)),
    "select": ({"select": 1}, [(T, 4), (4,)]),
    "conv1d": ({"conv1d": {"out": 5, "kernel": 3, "stride": 2}}, (3, T)),
    "conv2d": ({"conv2d": {"out": 4, "padding": "same", "dilation": 2}}, (3, 6, 6)),
    "maxpool": ({"maxpool": 2}, (3, 6, 5)),
    "avgpool": ({"avgpool": {"kernel": 3, "stride": 1, "padding": 1}}, (3, 9)),
    "global_avgpool": ("global_avgpool", (3, 4, 4)),
    "batchnorm": ("batchnorm", (3, 4, 4)),
    "layernorm": ("layernorm", (T, 6)),
    "relu": ("relu", (5,)),
    "leaky_relu": ({"leaky_relu": 0.2}, (5,)),
    "elu": ({"elu": 0.5}, (2, 5)),
    "gelu": ("gelu", (5,)),
    "silu": ("silu", (5,)),
    "sigmoid": ("sigmoid", (5,)),
    "tanh": ("tanh", (5,)),
    "hardtanh": ({"hardtanh": {"min": -2, "max": 2}}, (5,)),
    "softmax": ("softmax", (5,)),
    "log_softmax": ({"log_softmax": 0}, (4, 3)),
    "rnn": ({"rnn": {"hidden": 5, "nonlinearity": "relu", "return": "sequence"}}, (T, 3)),
    "lstm": ({"lstm": {"hidden": 5, "bidirectional": True, "num_layers": 2, "return": "all"}}, (T, 3)),
    "gru": ({"gru": 5}, (6, 3)),
    # a fixed length: an export unrolls its time loop, so the graph fixes T
    "ntm": ({"ntm": {"memory": 5, "width": 3, "controller": 4, "read_heads": 2, "write_heads": 2, "shift": 2}}, (3, 3)),
    "attention": ({"attention": {"heads": 2, "causal": True}}, (T, 8)),
    "cross_attention": ({"cross_attention": {"score": "dot", "heads": 2}}, (T, 5)),
    "transformer_decoder": ({"transformer_decoder": {"depth": 1, "heads": 2, "ff": 16, "norm_first": True}}, (T, 8)),
    "transformer_encoder": ({"transformer_encoder": {"depth": 1, "heads": 2, "ff": 16, "norm_first": True}}, (T, 8)),
    "positional": ({"positional": {"kind": "learned", "max_len": 16}}, (T, 8)),
    "residual": ({"residual": [{"conv2d": {"out": 6, "stride": 2, "padding": 1}}, "relu"]}, (3, 6, 6)),
    "parallel": ({"parallel": {"branches": [[{"conv2d": {"out": 2, "padding": 1}}], []], "merge": "concat"}}, (3, 5, 5)),
    "repeat": ({"repeat": {"times": 2, "layers": [{"linear": 4}, "relu"]}}, (4,)),
}

# layers that attend over an encoder's output: the per-sample shape of that memory (S dynamic)
MEMORY = {"cross_attention": (T, 6), "transformer_decoder": (T, 8)}


def runnable(name, model):
    """The built example as a module of its inputs: a memory reader takes (x, memory)."""
    from dlcli.nn._seq2seq_modules import Attending

    return Attending(model).train(model.training) if name in MEMORY else model


def concrete(shape):
    return tuple(SEQ if d is None else d for d in shape)


def sample(name, shape, memory=True):
    """A batch of 3 for `shape` (tuple of tensors for a list of shapes; token ids for TOKEN_IDS;
    with the memory after it for a layer in MEMORY)."""
    if memory and name in MEMORY:
        return sample(name, shape, False), torch.randn(3, *concrete(MEMORY[name]))
    if isinstance(shape, list):
        return tuple(sample(name, s) for s in shape)
    if name in TOKEN_IDS:
        return torch.randint(0, VOCAB, (3, *concrete(shape)))
    return torch.randn(3, *concrete(shape))
