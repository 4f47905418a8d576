"""Everything a training run needs, built from a checked recipe: device, data, networks, optimisers."""
from __future__ import annotations

from typing import Any, Optional

from dlcli.engine.fit import Fit, Role
from dlcli.engine.tensors import prepare


def build_fit(resolved: Any, indices: Optional[dict] = None, for_training: bool = True,
                  deterministic: bool = False, dist: Any = None) -> Fit:
    """Seeded, on its device, with data split and normalised; optimizers only `for_training`.
    `deterministic` is the default for a recipe that leaves train.deterministic unset."""
    from dlcli.engine.accel import apply_channels_last, wants_channels_last
    from dlcli.engine.device import autocast_dtype, autocaster, pick_device
    from dlcli.engine.pipeline import make_bundle
    from dlcli.nn.model import build_model
    from dlcli.engine.seed import configure_determinism, seed_everything

    r, t, parts = resolved.recipe, resolved.recipe.train, resolved.parts
    device = dist.device if dist is not None and dist.active else pick_device(t.device)
    determinism = configure_determinism(deterministic if t.deterministic is None else t.deterministic, t.threads)
    gen = seed_everything(r.seed, device)
    task = type(parts.task)(parts.task.args)  # a fresh task: its own state starts empty in every run
    data = prepare(resolved, device, task, indices)
    info = data.dataset.info
    reshape = (tuple(info.input_shape), info.user_shape) if info.user_shape != tuple(info.input_shape) else None
    nets = task.complete({name: build_model(plan) for name, plan in parts.plans.items()}, parts.plans, info)
    model = make_bundle(nets, data.shift, data.scale, data.y_shift, data.y_scale, reshape).to(device)
    loss_fn = parts.loss[0].make(parts.loss[1]) if parts.loss else None
    autocast = autocaster(device, autocast_dtype(device, t.precision))
    f = Fit(resolved, device, task, data, model, loss_fn, t.metrics or list(task.default_metrics), autocast, gen,
            determinism=determinism, dist=dist or single(), grad_clip=t.grad_clip, l1=t.l1, l2=t.l2)
    if wants_channels_last(t.channels_last, device, model, info.input_shape):
        f.channels_last = True
        apply_channels_last(f)
    if for_training:
        attach_optimizers(f)
    return f


def single() -> Any:
    from dlcli.engine.distributed import Distributed

    return Distributed()


def attach_optimizers(f: Fit) -> None:
    """One optimizer and schedule per role of the task, the training networks, augmentation."""
    import torch

    from dlcli.data import augment
    from dlcli.engine.accel import training_module

    t, parts = f.resolved.recipe.train, f.resolved.parts
    f.steps_per_epoch = steps_per_epoch(f)
    for role, names in f.task.optimizers().items():
        params = [p for name in names for p in f.nets[name].parameters()]
        (opt, opt_args), (schedule, schedule_args) = parts.optimizers[role], parts.schedules[role]
        optimizer = opt.make(params, opt_args, fused=f.device.type == "cuda")
        scheduler = schedule.make(optimizer, schedule_args, f.steps_per_epoch, t.epochs)
        f.roles[role] = Role(tuple(names), params, optimizer, scheduler, schedule, schedule_args)
    f.scaler = torch.amp.GradScaler(f.device.type) if t.precision == "fp16" and f.device.type == "cuda" else None
    f.train_nets = {name: training_module(f, net) for name, net in f.nets.items()}
    items = f.resolved.recipe.data.augment
    f.augment = augment.compose(items, f.data.dataset.info) if items else None


def steps_per_epoch(s: Fit) -> int:
    n, bs = s.task.epoch_samples(s.data), s.batch_size
    # a last batch of one sample per rank would break batch norm; it is reshuffled into the next epoch
    tail = n % bs
    return n // bs if 0 < tail < 2 * s.dist.world and n > bs else max(1, -(-n // bs))
