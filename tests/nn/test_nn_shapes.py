"""Shape inference: what plans, what does not, and what the problems say."""
import subprocess
import sys

import pytest
import torch

import dlcli.nn  # noqa: F401  (fills the registries)
from dlcli.nn.model import build_model, plan_model


def problems(items, shape, outputs=5):
    return plan_model(items, shape, outputs).ctx.problems


def test_importing_dlcli_nn_does_not_import_torch():
    code = "import dlcli.nn, sys; assert 'torch' not in sys.modules, 'dlcli.nn imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_planning_every_layer_does_not_import_torch():
    code = ("import sys; from dlcli.nn.model import plan_model; "
            "p = plan_model({'resnet': {'depth': 8}}, (3, 8, 8), 10); "
            "q = plan_model([{'embedding': {'vocab': 9, 'dim': 8}}, 'positional', {'transformer_encoder': 1}, "
            "{'lstm': {'hidden': 4, 'return': 'all'}}, {'select': 1}], (None,), 2); "
            "assert not p.ctx.problems and not q.ctx.problems; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_conv2d_on_a_vector_names_the_layer_and_both_shapes():
    [p] = problems([{"conv2d": 8}], (4,))
    assert p.path == ("model", 0, "conv2d")
    assert "conv2d" in p.message and "(C, H, W)" in p.message and "(4,)" in p.message


def test_a_window_larger_than_the_input_is_a_shape_error():
    [p] = problems([{"conv2d": {"out": 4, "kernel": 5}}], (1, 3, 3))
    assert "(1, 3, 3)" in p.message and "(4, -1, -1)" in p.message
    [p] = problems([{"maxpool": 4}], (2, 3))
    assert "maxpool" in p.message and "(2, 3)" in p.message and "(2, 0)" in p.message


def test_linear_after_a_list_output_asks_for_select():
    [p] = problems([{"lstm": {"hidden": 8, "return": "all"}}, {"linear": 3}], (None, 4))
    assert p.path == ("model", 1, "linear") and "select" in p.message and "[(T, 8), (8,)]" in p.message


def test_lstm_bidirectional_all_then_select_last_state():
    plan = plan_model([{"lstm": {"hidden": 6, "bidirectional": True, "return": "all"}}, {"select": 1}], (None, 3), 2)
    assert plan.ctx.problems == [] and plan.out_shape == (12,)
    lstm = build_model(plan)[0]
    x = torch.randn(2, 5, 3)
    seq, last = lstm(x)
    assert build_model(plan)(x).shape == (2, 12)
    # forward state of the last step, backward state of the first step
    assert torch.allclose(last[:, :6], seq[:, -1, :6]) and torch.allclose(last[:, 6:], seq[:, 0, 6:])


def test_select_needs_several_outputs_and_an_index_in_range():
    [p] = problems([{"select": 0}], (4,))
    assert "one tensor (4,)" in p.message
    [p] = problems([{"gru": {"hidden": 2, "return": "all"}}, {"select": 2}], (3, 4))
    assert "index 2" in p.message and "2 outputs" in p.message


def test_recurrent_return_key_and_rnn_only_nonlinearity():
    [p] = problems([{"gru": {"hidden": 2, "retrun": "all"}}], (3, 4))
    assert p.suggestion == "return"
    [p] = problems([{"lstm": {"hidden": 2, "nonlinearity": "relu"}}], (3, 4))
    assert p.path[-1] == "nonlinearity"


def test_parallel_with_mismatched_spatial_sizes_names_every_branch():
    branches = [[{"conv2d": {"out": 4, "padding": 1}}], [{"conv2d": 2}], []]
    [p] = problems([{"parallel": branches}], (3, 8, 8))
    assert p.path == ("model", 0, "parallel")
    assert "(4, 8, 8)" in p.message and "(2, 6, 6)" in p.message and "(3, 8, 8)" in p.message


def test_parallel_concat_sum_and_list():
    branches = [[{"conv2d": {"out": 4, "padding": 1}}], []]
    assert plan_model([{"parallel": branches}], (3, 8, 8), 2).out_shape == (7, 8, 8)
    assert plan_model([{"parallel": {"branches": branches, "merge": "list"}}], (3, 8, 8), 2).out_shape == [(4, 8, 8), (3, 8, 8)]
    [p] = problems([{"parallel": {"branches": branches, "merge": "sum"}}], (3, 8, 8))
    assert "sum" in p.message and "(4, 8, 8)" in p.message and "(3, 8, 8)" in p.message


def test_problems_inside_a_block_are_located_in_the_block():
    [p] = problems([{"parallel": {"branches": [["relu"], [{"rleu": None}]]}}], (3,))
    assert p.path == ("model", 0, "parallel", "branches", 1, 0) and p.suggestion == "relu"


def test_an_unknown_bare_layer_name_is_a_problem_inside_a_block_too():
    [p] = problems([{"residual": ["rleu"]}], (3,))
    assert p.path == ("model", 0, "residual", "layers", 0) and p.suggestion == "relu"


def test_residual_projects_channels_and_stride():
    body = [{"conv2d": {"out": 16, "stride": 2, "padding": 1}}, "batchnorm", "relu"]
    plan = plan_model([{"residual": body}], (8, 8, 8), 2)
    assert plan.ctx.problems == [] and plan.out_shape == (16, 4, 4)
    block = build_model(plan)[0]
    assert block.projection.kernel_size == (1, 1) and block.projection.stride == (2, 2)
    assert block(torch.randn(2, 8, 8, 8)).shape == (2, 16, 4, 4)


@pytest.mark.parametrize("body, shape, out, proj", [
    ([{"linear": 6}], (4,), (6,), "Linear"),
    ([{"linear": 6}], (None, 4), (None, 6), "Linear"),
    ([{"conv1d": {"out": 6, "stride": 2, "padding": 1}}], (3, None), (6, None), "Conv1d"),
    (["relu"], (3, 5, 5), (3, 5, 5), "Identity"),
])
def test_residual_projection_follows_the_layout(body, shape, out, proj):
    plan = plan_model([{"residual": body}], shape, 2)
    assert plan.ctx.problems == [] and plan.out_shape == out
    block = build_model(plan)[0]
    assert type(block.projection).__name__ == proj
    x = torch.randn(2, *(9 if d is None else d for d in shape))
    block(x)  # the shortcut and the body agree at run time, dynamic axes included


def test_residual_shape_errors():
    [p] = problems([{"residual": [{"conv2d": 4}]}], (3, 8, 8))
    assert "cannot project (3, 8, 8) to (4, 6, 6)" in p.message
    # k4 s2 p1 halves even lengths like a strided 1x1 convolution, but not odd ones
    [p] = problems([{"residual": [{"conv1d": {"out": 4, "kernel": 4, "stride": 2, "padding": 1}}]}], (3, None))
    assert "cannot project (3, T) to (4, T)" in p.message and "every length" in p.message
    [p] = problems([{"residual": {"layers": [{"linear": 3}], "projection": "none"}}], (4,))
    assert "(4,)" in p.message and "(3,)" in p.message and "projection: none" in p.message
    [p] = problems([{"residual": ["flatten"]}], (2, 3))
    assert "cannot project (2, 3) to (6,)" in p.message


def test_repeat_plans_the_list_times_in_a_row():
    plan = plan_model([{"repeat": {"times": 3, "layers": [{"conv2d": 4}, "relu"]}}], (1, 9, 9), 2)
    [node] = plan.nodes
    assert len(node.children) == 3 and node.out_shape == (4, 3, 3)
    assert [kids[0].out_shape for kids in node.children] == [(4, 7, 7), (4, 5, 5), (4, 3, 3)]
    model = build_model(plan)
    assert model(torch.randn(2, 1, 9, 9)).shape == (2, 4, 3, 3)
    assert model[0][0][0].weight.data_ptr() != model[0][1][0].weight.data_ptr()


def test_repeat_reports_a_failure_once_with_its_repetition():
    [p] = problems([{"repeat": {"times": 5, "layers": [{"conv2d": 4}]}}], (1, 7, 7))
    assert "repetition 4 of 5" in p.message and "(4, 1, 1)" in p.message  # 7 -> 5 -> 3 -> 1 -> -1


def test_argument_errors_are_problems_not_exceptions():
    msgs = [p.message for p in problems([
        {"conv2d": {"out": 4, "padding": "same", "stride": 2}},
        {"dropout": 1.5},
        {"hardtanh": {"min": 1, "max": 0}},
        {"reshape": [2, -1, -1]},
    ], (1, 8, 8))]
    assert any("same" in m and "stride 1" in m for m in msgs)
    assert any("less than 1" in m for m in msgs)
    assert any("min (1.0) must be below max (0.0)" in m for m in msgs)


def test_reshape_checks_the_element_count():
    assert plan_model([{"reshape": [4, -1]}], (2, 3, 4), 2).out_shape == (4, 6)
    [p] = problems([{"reshape": [5, 5]}], (2, 3, 4))
    assert "(2, 3, 4)" in p.message and "24" in p.message and "25" in p.message
    [p] = problems([{"reshape": [5, -1]}], (2, 3, 4))
    assert "multiple of 5" in p.message


def test_attention_heads_must_divide_the_embedding():
    [p] = problems([{"attention": 3}], (None, 8))
    assert "attention" in p.message and "(T, 8)" in p.message and "3" in p.message
    [p] = problems([{"transformer_encoder": {"heads": 3}}], (5, 8))
    assert "transformer_encoder" in p.message


@pytest.mark.parametrize("item", [{"attention": {"heads": 2, "causal": True}},
                                  {"transformer_encoder": {"heads": 2, "causal": True, "dropout": 0.0}}])
def test_causal_attention_ignores_the_future(item):
    plan = plan_model([item], (None, 4), 2)
    torch.manual_seed(0)
    attn = build_model(plan).eval()
    x = torch.randn(1, 6, 4)
    y = x.clone()
    y[:, 4:] = torch.randn(1, 2, 4)
    with torch.no_grad():
        assert torch.allclose(attn(x)[:, :4], attn(y)[:, :4], atol=1e-6)
        assert not torch.allclose(attn(x)[:, 4:], attn(y)[:, 4:])


def test_learned_positions_cover_max_len_only():
    [p] = problems([{"positional": {"kind": "learned", "max_len": 4}}], (6, 8))
    assert "max_len" in p.message and "(6, 8)" in p.message


def test_sinusoidal_positions_match_the_formula():
    model = build_model(plan_model(["positional"], (None, 6), 2))
    enc = model(torch.zeros(1, 5, 6))[0]  # (T, E)
    pos, i = 3, 1
    angle = pos / 10000 ** (2 * i / 6)
    assert torch.allclose(enc[pos, 2 * i], torch.tensor(angle).sin()) and torch.allclose(enc[pos, 2 * i + 1], torch.tensor(angle).cos())


def test_embedding_takes_float_ids_and_softmax_dim_counts_sample_axes():
    emb = build_model(plan_model([{"embedding": {"vocab": 5, "dim": 3}}], (None,), 2))
    assert emb(torch.tensor([[0.0, 4.0]])).shape == (1, 2, 3)
    soft = build_model(plan_model([{"softmax": 0}], (4, 3), 2))
    assert torch.allclose(soft(torch.randn(2, 4, 3)).sum(1), torch.ones(2, 3))
    [p] = problems([{"softmax": 2}], (4, 3))
    assert "dim 2" in p.message and "(4, 3)" in p.message


def test_global_avgpool_and_batchnorm_layouts():
    assert plan_model(["global_avgpool"], (5, None), 2).out_shape == (5,)
    assert "(5,)" in problems(["global_avgpool"], (5,))[0].message
    assert type(build_model(plan_model(["batchnorm"], (4,), 2))[0]).__name__ == "BatchNorm1d"
    assert type(build_model(plan_model(["batchnorm"], (4, 3, 3), 2))[0]).__name__ == "BatchNorm2d"
    assert "batchnorm" in problems(["batchnorm"], (1, 2, 3, 4))[0].message
