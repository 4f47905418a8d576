"""Optimizers and learning-rate schedules: every registered name is made, stepped and checkpointed."""
from __future__ import annotations

import io
import math

import pytest
import torch
from pydantic import ValidationError

from dlcli.engine.optimizers import optimizers
from dlcli.engine.schedules import schedules

STEPS_PER_EPOCH, EPOCHS = 5, 4


def roundtrip(state: dict) -> dict:
    """What a checkpoint does: torch.save, then torch.load(weights_only=True)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def problem(seed: int = 0):
    """A small least-squares problem: (model, loss function)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 1)
    return model, lambda: torch.nn.functional.mse_loss(model(x), y)


def step(opt, loss_fn) -> float:
    opt.zero_grad()
    loss = loss_fn()
    loss.backward()
    opt.step()
    return loss.item()


# ---------------------------------------------------------------------------------------------- optimizers


@pytest.mark.parametrize("name", optimizers.names())
def test_optimizer_step_decreases_the_loss(name):
    entry = optimizers.get(name)()
    model, loss_fn = problem()
    opt = entry.make(model.parameters(), entry.Args())
    assert isinstance(opt, torch.optim.Optimizer)
    before = step(opt, loss_fn)
    after = loss_fn().item()
    assert math.isfinite(after) and after < before
    assert opt.param_groups[0]["lr"] == entry.Args().lr


@pytest.mark.parametrize("name", optimizers.names())
def test_optimizer_passes_its_arguments_to_torch(name):
    entry = optimizers.get(name)()
    model, _ = problem()
    opt = entry.make(model.parameters(), entry.Args(lr=0.123, weight_decay=0.01))
    assert opt.param_groups[0]["lr"] == 0.123
    assert opt.param_groups[0]["weight_decay"] == 0.01


@pytest.mark.parametrize("name", optimizers.names())
def test_optimizer_state_survives_a_checkpoint(name):
    """A resumed optimizer takes exactly the step the uninterrupted one takes."""
    entry = optimizers.get(name)()
    args = entry.Args()
    model, loss_fn = problem()
    opt = entry.make(model.parameters(), args)
    for _ in range(3):
        step(opt, loss_fn)
    state = roundtrip(opt.state_dict())

    model2, loss_fn2 = problem()
    model2.load_state_dict(model.state_dict())
    opt2 = entry.make(model2.parameters(), args)
    opt2.load_state_dict(state)
    step(opt, loss_fn)
    step(opt2, loss_fn2)
    for p, q in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("name", optimizers.names())
def test_optimizer_args_reject_unknown_keys_and_bad_lr(name):
    Args = optimizers.get(name).Args
    with pytest.raises(ValidationError):
        Args(learning_rate=0.1)
    with pytest.raises(ValidationError):
        Args(lr=0)
    with pytest.raises(ValidationError):
        Args(weight_decay=-1)


def test_sgd_nesterov_needs_momentum():
    Args = optimizers.get("sgd").Args
    with pytest.raises(ValidationError, match="nesterov"):
        Args(nesterov=True)
    with pytest.raises(ValidationError, match="nesterov"):
        Args(nesterov=True, momentum=0.9, dampening=0.1)
    args = Args(nesterov=True, momentum=0.9)
    model, _ = problem()
    opt = optimizers.get("sgd")().make(model.parameters(), args)
    assert opt.param_groups[0]["nesterov"] is True and opt.param_groups[0]["momentum"] == 0.9


def test_adamw_decays_by_default_and_adam_does_not():
    assert optimizers.get("adamw").Args().weight_decay > 0
    assert optimizers.get("adam").Args().weight_decay == 0


# ----------------------------------------------------------------------------------------------- schedules


def make_schedule(name: str, lr: float = 0.1, **kwargs):
    entry = schedules.get(name)()
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    sched = entry.make(opt, entry.Args(**kwargs), STEPS_PER_EPOCH, EPOCHS)
    return entry, opt, sched


def lr_of(opt) -> float:
    return opt.param_groups[0]["lr"]


def advance_epoch(entry, opt, sched, epoch: int) -> list[float]:
    """One epoch as the training loop drives it: per-step schedules after each batch, else at the end.

    Returns the lr each optimizer step of the epoch used."""
    used = []
    for _ in range(STEPS_PER_EPOCH):
        used.append(lr_of(opt))
        opt.step()  # no gradients: a no-op, but keeps torch's step-order check quiet
        if entry.per_step:
            sched.step()
    if not entry.per_step:
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(1.0)  # a metric that never improves
        else:
            sched.step()
    return used


def run_schedule(entry, opt, sched) -> list[float]:
    """The lr of every optimizer step of the run."""
    return [lr for epoch in range(EPOCHS) for lr in advance_epoch(entry, opt, sched, epoch)]


@pytest.mark.parametrize("name", schedules.names())
def test_schedule_keeps_lr_finite_and_positive(name):
    entry, opt, sched = make_schedule(name)
    lrs = run_schedule(entry, opt, sched)
    assert all(math.isfinite(v) and v > 0 for v in lrs), lrs


@pytest.mark.parametrize("name", ["onecycle", "cosine"])
def test_annealing_schedules_end_below_their_start(name):
    entry, opt, sched = make_schedule(name)
    lrs = run_schedule(entry, opt, sched)
    assert lrs[-1] < lrs[0]
    assert lrs[-1] < 0.1 * 0.01  # they anneal far down, not a little


def test_cosine_warms_up_then_anneals_to_min_factor():
    entry, opt, sched = make_schedule("cosine", warmup=1, min_factor=0.1)
    used = run_schedule(entry, opt, sched)
    warm, rest = used[:STEPS_PER_EPOCH], used[STEPS_PER_EPOCH:]
    assert warm == pytest.approx([0.1 * (i + 1) / STEPS_PER_EPOCH for i in range(STEPS_PER_EPOCH)])
    assert rest[0] == pytest.approx(0.1)  # the peak right after warm-up
    assert rest == sorted(rest, reverse=True) and rest[-1] > 0.1 * 0.1
    assert lr_of(opt) == pytest.approx(0.1 * 0.1)  # min_factor once the run is over


def test_onecycle_peaks_at_max_lr():
    entry, opt, sched = make_schedule("onecycle", lr=0.1)
    used = run_schedule(entry, opt, sched)
    assert used[0] == pytest.approx(0.1 / 25)  # div_factor
    assert max(used) == pytest.approx(0.1)
    assert used[-1] == pytest.approx(0.1 / 25 / 1e4)  # final_div_factor on the last step


def test_step_schedule_halves_every_step_size_epochs():
    entry, opt, sched = make_schedule("step", lr=0.1, step_size=2, gamma=0.5)
    used = run_schedule(entry, opt, sched)
    assert used == pytest.approx([0.1] * 10 + [0.05] * 10)
    assert lr_of(opt) == pytest.approx(0.025)


def test_constant_schedule_stays_constant():
    entry, opt, sched = make_schedule("constant", lr=0.1)
    assert run_schedule(entry, opt, sched) == [0.1] * (STEPS_PER_EPOCH * EPOCHS)
    assert lr_of(opt) == 0.1


def test_plateau_reduces_after_patience_and_reads_the_monitor_direction():
    entry, opt, sched = make_schedule("plateau", lr=0.1, patience=1, factor=0.5)
    assert entry.Args().monitor == "val.loss" and sched.mode == "min"
    lrs = run_schedule(entry, opt, sched)
    assert lrs[-1] < lrs[0]
    _, _, sched = make_schedule("plateau", monitor="val.accuracy")
    assert sched.mode == "max"


# arguments that make every schedule change the lr after the checkpoint at epoch 2
CHANGING = {"step": {"step_size": 3, "gamma": 0.5}, "plateau": {"patience": 2, "factor": 0.5}}


@pytest.mark.parametrize("name", schedules.names())
def test_schedule_state_survives_a_checkpoint(name):
    """Resume: a fresh optimizer + scheduler loaded from the saved states continue with the same lr."""
    kwargs = CHANGING.get(name, {})
    entry, opt, sched = make_schedule(name, lr=0.1, **kwargs)
    for epoch in range(2):
        advance_epoch(entry, opt, sched, epoch)
    opt_state, sched_state = roundtrip(opt.state_dict()), roundtrip(sched.state_dict())

    _, opt2, sched2 = make_schedule(name, lr=0.1, **kwargs)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    assert lr_of(opt2) == lr_of(opt)
    for epoch in range(2, EPOCHS):
        advance_epoch(entry, opt, sched, epoch)
        advance_epoch(entry, opt2, sched2, epoch)
        assert lr_of(opt2) == pytest.approx(lr_of(opt), rel=1e-12)
    if name != "constant":
        assert lr_of(opt) != 0.1  # the lr did change, so the test can tell a lost state


@pytest.mark.parametrize("name", schedules.names())
def test_schedule_args_reject_unknown_keys(name):
    with pytest.raises(ValidationError):
        schedules.get(name).Args(no_such_key=1)
