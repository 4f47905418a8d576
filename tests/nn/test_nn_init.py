"""Every registered initialiser: deterministic under a seed, changes weights, zeroes biases."""
import pytest
import torch

import dlcli.nn  # noqa: F401  (fills the registries)
from dlcli.nn.base import initializers
from dlcli.nn.model import build_model, plan_model


def initialised_linear(name: str, seed: int):
    plan = plan_model([{"linear": {"out": 16, "init": name}}], (32,), outputs=None)
    assert plan.ctx.problems == []
    torch.manual_seed(seed)
    return build_model(plan)[0]


def default_linear():
    torch.manual_seed(0)
    return torch.nn.Linear(32, 16)


@pytest.mark.parametrize("name", initializers.names())
def test_initializer_is_deterministic_and_zeroes_the_bias(name):
    first, again = initialised_linear(name, 0), initialised_linear(name, 0)
    assert torch.equal(first.weight, again.weight)
    assert not torch.equal(first.weight, default_linear().weight)
    assert torch.count_nonzero(first.bias) == 0
    if name == "zeros":
        assert torch.count_nonzero(first.weight) == 0
    else:
        assert first.weight.std() > 0
    assert initializers.docs()[name]


@pytest.mark.parametrize("alias, name", [("glorot", "xavier"), ("he", "kaiming")])
def test_aliases_give_the_same_weights(alias, name):
    assert torch.equal(initialised_linear(alias, 3).weight, initialised_linear(name, 3).weight)
    assert "alias" in initializers.docs()[alias].lower()


def test_normal_has_std_002_and_kaiming_follows_fan_in():
    big = plan_model([{"linear": {"out": 512, "init": "normal"}}], (512,), None)
    assert abs(build_model(big)[0].weight.std().item() - 0.02) < 0.001
    he = plan_model([{"linear": {"out": 512, "init": "he"}}], (512,), None)
    assert abs(build_model(he)[0].weight.std().item() - (2 / 512) ** 0.5) < 0.003


def test_model_wide_init_reaches_every_weighted_layer_and_projections():
    spec = {"layers": [{"residual": [{"conv2d": {"out": 4, "stride": 2, "padding": 1}}]}, "flatten", {"linear": 2}],
            "init": "zeros"}
    model = build_model(plan_model(spec, (2, 4, 4), None))
    assert all(torch.count_nonzero(p) == 0 for p in model.parameters())


def test_unknown_initializer_is_a_problem_with_a_suggestion():
    plan = plan_model({"layers": ["flatten"], "init": "kaimng"}, (4,), None)
    assert [(p.path, p.suggestion) for p in plan.ctx.problems] == [(("model", "init"), "kaiming")]
