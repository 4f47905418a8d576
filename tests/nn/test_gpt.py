"""The nanoGPT `gpt` layer and architecture, and embeddings that take their vocabulary from the data."""
import math

import numpy as np
import pytest
import torch

import dlcli.nn  # noqa: F401  (fills the registries)
from dlcli.nn.model import build_model, count_params, plan_model

SMALL = {"n_layer": 1, "n_head": 2, "n_embd": 8, "block_size": 16, "vocab": 11}


def gpt(shape=(None,), **args):
    plan = plan_model([{"gpt": {**SMALL, **args}}], shape, None)
    assert plan.ctx.problems == []
    torch.manual_seed(0)
    return plan, build_model(plan)[0].eval()


def nanogpt_params(V, C, L, block_size, bias=True, tied=True):
    """nanoGPT's parameter count, written out layer by layer."""
    b = 1 if bias else 0
    ln = C + b * C  # weight (+ bias)
    attn = (C * 3 * C + b * 3 * C) + (C * C + b * C)  # fused qkv, output projection
    mlp = (C * 4 * C + b * 4 * C) + (4 * C * C + b * C)  # fc, projection
    head = 0 if tied else V * C
    return V * C + block_size * C + L * (2 * ln + attn + mlp) + ln + head


def test_token_ids_in_logits_out():
    plan, model = gpt()
    assert plan.out_shape == (None, 11)
    assert plan_model([{"gpt": SMALL}], (12,), None).out_shape == (12, 11)
    assert model(torch.randint(0, 11, (3, 7))).shape == (3, 7, 11)
    assert model(torch.tensor([[0.0, 10.0, 3.0]])).shape == (1, 3, 11)  # float ids, as loaders yield them


def test_the_architecture_is_the_layer():
    plan = plan_model({"gpt": {"n_layer": 2, "n_embd": 16}}, (None,), None, vocab=40)
    assert plan.ctx.problems == []
    [node] = plan.nodes
    assert node.name == "gpt" and node.path == ("model", "gpt", 0) and plan.out_shape == (None, 40)
    assert (node.args.n_layer, node.args.n_head, node.args.n_embd, node.args.block_size) == (2, 4, 16, 256)


def test_a_position_sees_no_later_token():
    _, model = gpt()
    x = torch.randint(0, 11, (2, 9))
    t = 4
    y = x.clone()
    y[:, t + 1] = (x[:, t + 1] + 1) % 11
    with torch.no_grad():
        a, b = model(x), model(y)
    assert torch.equal(a[:, : t + 1], b[:, : t + 1])
    assert not torch.allclose(a[:, t + 1], b[:, t + 1])


@pytest.mark.parametrize("bias", [True, False])
def test_tied_weights_share_storage_and_count_as_nanogpt(bias):
    _, model = gpt(n_layer=3, n_head=4, n_embd=16, block_size=10, vocab=23, bias=bias)
    assert model.lm_head.weight is model.wte.weight
    assert model.lm_head.weight.data_ptr() == model.wte.weight.data_ptr()
    assert count_params(model) == nanogpt_params(23, 16, 3, 10, bias=bias)
    assert count_params(model) == (23 * 16 + 10 * 16 + 3 * (12 * 16 * 16 + 13 * 16) + 2 * 16 if bias else
                                   23 * 16 + 10 * 16 + 3 * (12 * 16 * 16 + 2 * 16) + 16)


def test_untied_weights_have_their_own_head():
    _, model = gpt(tie_weights=False)
    assert model.lm_head.weight.data_ptr() != model.wte.weight.data_ptr()
    assert count_params(model) == nanogpt_params(11, 8, 1, 16, tied=False)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    assert model.wte.weight.abs().sum() > 0


def test_nanogpt_initialisation():
    _, model = gpt(n_layer=2, n_head=4, n_embd=64, bias=True)
    block = model.h[0]
    assert abs(block.attn.c_attn.weight.std().item() - 0.02) < 0.002
    assert abs(model.wte.weight.std().item() - 0.02) < 0.002
    for proj in (block.attn.c_proj.weight, block.mlp.c_proj.weight):
        assert abs(proj.std().item() - 0.02 / math.sqrt(2 * 2)) < 0.001
    assert torch.count_nonzero(block.attn.c_attn.bias) == 0 and torch.count_nonzero(block.mlp.c_fc.bias) == 0


def test_a_model_wide_init_replaces_nanogpts():
    plan = plan_model({"layers": [{"gpt": SMALL}], "init": "zeros"}, (None,), None)
    model = build_model(plan)[0]
    assert torch.count_nonzero(model.wte.weight) == 0 and torch.count_nonzero(model.h[0].attn.c_attn.weight) == 0


def test_vocab_comes_from_the_data_when_not_written():
    plan = plan_model([{"gpt": {"n_layer": 1, "n_head": 2, "n_embd": 8}}], (None,), None, vocab=37)
    assert plan.ctx.problems == [] and plan.out_shape == (None, 37) and plan.nodes[0].args.vocab == 37
    model = build_model(plan)[0]
    assert model.wte.num_embeddings == 37 and model.lm_head.out_features == 37
    plan = plan_model([{"embedding": {"dim": 4}}, {"lstm": {"hidden": 6, "return": "sequence"}}, {"linear": "auto"}],
                      (None,), 5, vocab=29)
    assert plan.ctx.problems == [] and plan.out_shape == (None, 5)
    assert build_model(plan)[0].num_embeddings == 29


def test_without_a_vocabulary_the_layer_asks_for_one():
    [p] = plan_model([{"embedding": {"dim": 4}}], (None,), 5).ctx.problems
    assert p.path == ("model", 0, "embedding")
    assert p.message == ("embedding needs `vocab` (the number of token ids): this data has no vocabulary of its "
                         "own, so write `embedding: {vocab: N, dim: D}`")
    [p] = plan_model({"gpt": {}}, (None,), None).ctx.problems
    assert p.path == ("model", "gpt", 0, "gpt") and "gpt needs `vocab`" in p.message and "`gpt: {vocab: N}`" in p.message


def test_a_written_vocab_smaller_than_the_datas_is_a_problem():
    [p] = plan_model([{"embedding": {"vocab": 8, "dim": 4}}], (None,), 5, vocab=10).ctx.problems
    assert "vocab 8" in p.message and "at least 10" in p.message
    assert plan_model([{"embedding": {"vocab": 12, "dim": 4}}], (None,), 5, vocab=10).ctx.problems == []


def test_a_sequence_longer_than_block_size_is_a_problem():
    [p] = plan_model([{"gpt": SMALL}], (17,), None).ctx.problems
    assert p.path == ("model", 0, "gpt") and "block_size = 16" in p.message and "17" in p.message
    assert plan_model([{"gpt": SMALL}], (16,), None).ctx.problems == []


def test_heads_must_divide_the_width():
    [p] = plan_model([{"gpt": {**SMALL, "n_embd": 10, "n_head": 4}}], (None,), None).ctx.problems
    assert p.path == ("model", 0, "gpt") and "n_embd = 10" in p.message and "n_head = 4" in p.message
    [p] = plan_model({"gpt": {"n_embd": 10, "n_head": 4}}, (None,), None, vocab=5).ctx.problems
    assert p.path == ("model", "gpt") and "10 % 4" in p.message


def test_gpt_takes_token_ids_only():
    [p] = plan_model([{"gpt": SMALL}], (None, 8), None).ctx.problems
    assert "(T,) token ids" in p.message and "(T, 8)" in p.message


def test_flops_count_every_matmul_attention_included():
    from dlcli.nn.flops import flops_per_sample

    L, C, V, T = 2, 16, 11, 12
    _, model = gpt(n_layer=L, n_head=2, n_embd=C, vocab=V)
    x, y = torch.randint(0, V, (4, T)), torch.randint(0, V, (4, T))
    loss = lambda out, target: torch.nn.functional.cross_entropy(out.flatten(0, 1), target.flatten())  # noqa: E731
    linears = T * (L * 12 * C * C + C * V)  # multiply-adds per sample: qkv 3, proj 1, mlp 4 + 4; the head
    attention = L * 2 * T * T * C  # q k^T and weights @ v, causal or not
    assert flops_per_sample(model.train(), x, y, loss) == 3 * 2 * (linears + attention)  # backward = 2x forward


@pytest.mark.parametrize("opset", [13, 18])  # 13: through the TorchScript exporter, with an explicit causal mask
def test_exports_to_onnx_with_a_dynamic_sequence_axis(opset):
    from dlcli.export import onnx_export as ox
    from dlcli.export.parity import check_parity

    _, model = gpt()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 11, (8, 7)).astype(np.float32)
    proto, exporter, notes = ox.export_model(model, x, opset, [0], True)
    assert exporter == ("dynamo" if opset == 18 else "torchscript")
    assert not any("sequence axis fixed" in n for n in notes)
    assert proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param
    for batch in (x, rng.integers(0, 11, (4, 13)).astype(np.float32)):
        assert check_parity(model, proto.SerializeToString(), batch, atol=1e-5, rtol=1e-3)["passed"]
