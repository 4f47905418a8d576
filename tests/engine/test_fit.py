"""Fit, what the engine lends a task: `step` is one optimizer step of one role; `apply` descends
gradients a task computed itself (contrastive divergence), leaving the others alone."""
from __future__ import annotations

import pytest

from tests.conftest import TINY


def fit_of(write, text: str):
    from dlcli.engine.setup import build_fit
    from dlcli.recipe.check import load_recipe

    return build_fit(load_recipe(write("r.yaml", text)))


SGD = TINY.replace("epochs: 2", "epochs: 2\n  optimizer: {name: sgd, lr: 0.5}")


def test_apply_descends_the_given_gradients_and_nothing_else(write):
    import torch

    fit = fit_of(write, SGD)
    params = dict(fit.model.named_parameters())
    name, other = list(params)[:2]
    before = {k: v.detach().clone() for k, v in params.items()}
    grad = torch.full_like(params[name], 0.1)
    fit.apply({name: grad})
    assert torch.allclose(params[name], before[name] - 0.5 * grad)
    assert torch.equal(params[other], before[other]) and fit.role(None).steps == 1


def test_step_is_one_backward_and_one_update_of_the_role(write):
    import torch

    fit = fit_of(write, SGD)
    net = fit.nets["net"]
    x, y = fit.data.x["train"][:8], fit.data.y["train"][:8]
    w = next(net.parameters())
    before = w.detach().clone()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    (g,) = torch.autograd.grad(loss, [w], retain_graph=True)
    fit.step(loss)
    assert torch.allclose(w, before - 0.5 * g, atol=1e-7) and fit.role(None).steps == 1


def test_a_task_with_several_roles_names_the_one_it_steps(write):
    gan = """
name: g
task: gan
data: {source: {type: ring8, size: 160}, normalize: none}
models:
  generator: [{linear: 8}, relu, {linear: auto}]
  discriminator: [{linear: 8}, relu]
"""
    fit = fit_of(write, gan)
    assert set(fit.roles) == {"generator", "discriminator"}
    assert fit.roles["discriminator"].networks == ("discriminator", "extras")
    with pytest.raises(KeyError):
        fit.role(None)  # two roles: which one must be said
    assert fit.lr() == {"lr.generator": pytest.approx(2e-4), "lr.discriminator": pytest.approx(2e-4)}
