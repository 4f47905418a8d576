"""Every registered layer must plan, build and run, and its run must match its plan.

A new layer without an entry in EXAMPLES fails `test_every_layer_has_an_example`.
"""
import pytest
import torch

import dlcli.nn  # noqa: F401  (fills the registries)
from dlcli.nn.base import layers
from dlcli.nn.model import build_model, count_params, plan_model
from tests.layer_examples import EXAMPLES, MEMORY, runnable, sample

def assert_matches(planned, out):
    if isinstance(planned, list):
        assert isinstance(out, (list, tuple)) and len(out) == len(planned)
        for p, o in zip(planned, out):
            assert_matches(p, o)
        return
    actual = tuple(out.shape[1:])
    assert out.shape[0] == 3
    assert len(actual) == len(planned), (planned, actual)
    assert all(p is None or p == a for p, a in zip(planned, actual)), (planned, actual)


def test_every_layer_has_an_example():
    assert sorted(set(layers.names()) - set(EXAMPLES)) == []
    assert sorted(set(EXAMPLES) - set(layers.names())) == []


@pytest.mark.parametrize("name", layers.names())
def test_layer_plans_builds_and_runs_as_planned(name):
    item, in_shape = EXAMPLES[name]
    plan = plan_model([item], in_shape, outputs=5, memory=MEMORY.get(name))
    assert plan.ctx.problems == []
    torch.manual_seed(0)
    model = runnable(name, build_model(plan).eval())
    with torch.no_grad():
        x = sample(name, in_shape)
        out = model(*x) if name in MEMORY else model(x)
    assert_matches(plan.out_shape, out)
    layer = layers.get(name)
    if layer.has_weights:
        assert count_params(model) > 0
    assert (layer.__doc__ or "").strip(), f"{name} has no docstring"
    assert layers.docs()[name]


@pytest.mark.parametrize("name", layers.names())
def test_layer_rejects_unknown_keys_with_a_located_problem(name):
    item, in_shape = EXAMPLES[name]
    plan = plan_model([{name: {"no_such_key": 1}}], in_shape, outputs=5, memory=MEMORY.get(name))
    assert any(p.path[:3] == ("model", 0, name) and "no_such_key" in p.message for p in plan.ctx.problems)
