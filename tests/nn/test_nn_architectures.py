"""Every registered architecture must expand, plan, build and classify a small image."""
import pytest
import torch

import dlcli.nn  # noqa: F401  (fills the registries)
from dlcli.nn.base import architectures
from dlcli.nn.model import build_model, count_params, plan_model


# gpt and ntm read token ids: tests/nn/test_gpt.py and test_ntm.py plan and run them
@pytest.mark.parametrize("name", [n for n in architectures.names() if n not in ("gpt", "ntm")])
def test_architecture_builds_and_runs_on_small_digits(name):
    plan = plan_model({name: {}}, (1, 8, 8), outputs=10)
    assert plan.ctx.problems == []
    assert plan.out_shape == (10,)
    model = build_model(plan).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert architectures.docs()[name]


def test_the_gpt_architecture_reads_token_ids():  # the one architecture that does not read images
    plan = plan_model({"gpt": {"n_layer": 1, "n_head": 2, "n_embd": 8, "block_size": 16}}, (None,), outputs=None, vocab=11)
    assert plan.ctx.problems == [] and plan.out_shape == (None, 11)
    with torch.no_grad():
        assert build_model(plan).eval()(torch.randint(0, 11, (3, 9))).shape == (3, 9, 11)


@pytest.mark.parametrize("name", architectures.names())
def test_architecture_layers_are_plain_recipe_items(name):
    arch = architectures.get(name)()
    items = arch.layers(arch.Args())
    assert isinstance(items, list) and items
    assert all(isinstance(i, str) or (isinstance(i, dict) and len(i) == 1) for i in items)


def test_resnet_depth_must_be_six_n_plus_two():
    plan = plan_model({"resnet": {"depth": 10}}, (1, 8, 8), outputs=10)
    assert [p.path for p in plan.ctx.problems] == [("model", "resnet", "depth")]
    assert "6n+2" in plan.ctx.problems[0].message and "10" in plan.ctx.problems[0].message


def test_resnet20_matches_the_paper():
    plan = plan_model({"resnet": {"depth": 20}}, (3, 32, 32), outputs=10)
    assert plan.ctx.problems == []
    residuals = [n for n in plan.nodes if n.name == "residual"]
    assert len(residuals) == 9  # 3 stages of n = 3 blocks
    assert [r.out_shape for r in residuals[::3]] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    assert 0.26e6 < count_params(build_model(plan)) < 0.28e6  # 0.27M in He et al. 2016, table 6


def test_lenet5_fits_28x28_images():
    plan = plan_model({"lenet5": {"activation": "relu"}}, (1, 28, 28), outputs=10)
    assert plan.ctx.problems == []
    assert [n.out_shape for n in plan.nodes if n.name == "flatten"] == [(16 * 7 * 7,)]


def test_mlp_options_expand_to_the_expected_layers():
    arch = architectures.get("mlp")()
    items = arch.layers(arch.Args(hidden=[8], activation="gelu", dropout=0.2, batchnorm=True))
    assert items == ["flatten", {"linear": 8}, "batchnorm", "gelu", {"dropout": 0.2}, {"linear": "auto"}]


def test_architecture_argument_errors_are_located():
    plan = plan_model({"mlp": {"activation": "softmax", "hiden": [3]}}, (4,), outputs=2)
    paths = sorted(p.path for p in plan.ctx.problems)
    assert paths == [("model", "mlp", "activation"), ("model", "mlp", "hiden")]
    assert any(p.suggestion == "hidden" for p in plan.ctx.problems)
