"""Everything a training run needs, built from a checked recipe: device, data, model, optimiser."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from dlcli.components import split_component
from dlcli.engine.tensors import RunData, prepare


@dataclass
class Session:
    resolved: Any
    device: Any
    task: Any
    data: RunData
    model: Any  # Pipeline: raw inputs in
    loss_fn: Callable
    metric_names: list[str]
    autocast: Callable[[], Any]
    gen: Any = None
    optimizer: Any = None
    scheduler: Any = None
    schedule: Any = None  # the registry entry (per_step)
    schedule_args: Any = None
    stepper: Any = None
    augment: Optional[Callable] = None
    determinism: dict = field(default_factory=dict)  # what train.deterministic / threads put in force
    train_net: Any = None  # what train steps call: the net, or it compiled and/or DDP-wrapped
    channels_last: bool = False
    flops_per_sample: Optional[float] = None
    peak_flops: Optional[float] = None
    dist: Any = None  # engine.distributed.Distributed

    @property
    def net(self) -> Any:
        """The network without normalisation: training feeds it data normalised once, up front."""
        return self.model.net

    @property
    def batch_size(self) -> int:
        return self.resolved.recipe.train.batch_size

    @property
    def eval_batch_size(self) -> int:
        t = self.resolved.recipe.train
        return t.eval_batch_size or max(t.batch_size, 1024)

    @property
    def monitor(self) -> str:
        es = self.resolved.recipe.train.early_stopping
        if es is not None:
            return es.monitor
        return "val.loss" if self.data.size("val") else "train.loss"

    def evaluate(self, split: str) -> dict:
        """Loss on the training scale, metrics in the targets' own units."""
        return self.task.evaluate(self.net, self.data.x[split], self.data.y[split], self.loss_fn,
                                  self.metric_names, self.eval_batch_size, self.autocast, self.unscale)

    def unscale(self, t: Any) -> Any:
        if self.data.y_shift is None:
            return t
        return t * self.model.y_scale + self.model.y_shift


def component(value: Any, registry: Any) -> tuple[Any, Any]:
    name, args = split_component(value)
    entry = registry.get(name)()
    return entry, entry.Args(**args)


def build_session(resolved: Any, indices: Optional[dict] = None, for_training: bool = True,
                  deterministic: bool = False, dist: Any = None) -> Session:
    """Seeded, on its device, with data split and normalised; optimizer only `for_training`.
    `deterministic` is the default for a recipe that leaves train.deterministic unset."""
    import dlcli.tasks  # noqa: F401
    from dlcli.engine.accel import apply_channels_last, wants_channels_last
    from dlcli.engine.device import autocast_dtype, autocaster, pick_device
    from dlcli.engine.pipeline import make_pipeline
    from dlcli.nn.model import build_model
    from dlcli.repro.seed import configure_determinism, seed_everything
    from dlcli.tasks import tasks
    from dlcli.tasks.losses import losses

    r, t = resolved.recipe, resolved.recipe.train
    device = dist.device if dist is not None and dist.active else pick_device(t.device)
    determinism = configure_determinism(deterministic if t.deterministic is None else t.deterministic, t.threads)
    gen = seed_everything(r.seed, device)
    task = tasks.get(resolved.task)()
    data = prepare(resolved, device, task, indices)
    info = data.dataset.info
    reshape = info.input_shape if info.user_shape != tuple(info.input_shape) else None
    model = make_pipeline(build_model(resolved.plan), data.shift, data.scale, data.y_shift, data.y_scale,
                          reshape).to(device)
    loss_entry, loss_args = component(t.loss or task.default_loss, losses)
    autocast = autocaster(device, autocast_dtype(device, t.precision))
    s = Session(resolved, device, task, data, model, loss_entry.make(loss_args),
                t.metrics or task.default_metrics, autocast, gen, determinism=determinism, dist=dist or single())
    if wants_channels_last(t.channels_last, device, model.net, info.input_shape):
        s.channels_last = True
        apply_channels_last(s)
    if for_training:
        attach_optimizer(s)
    return s


def single() -> Any:
    from dlcli.engine.distributed import Distributed

    return Distributed()


def attach_optimizer(s: Session) -> None:
    import torch

    from dlcli.data import augment
    from dlcli.engine.accel import training_module
    from dlcli.engine.optimizers import optimizers
    from dlcli.engine.schedules import schedules
    from dlcli.engine.step import Stepper

    t = s.resolved.recipe.train
    opt, opt_args = component(t.optimizer, optimizers)
    s.optimizer = opt.make(s.net.parameters(), opt_args, fused=s.device.type == "cuda")
    s.schedule, s.schedule_args = component(t.schedule, schedules)
    s.scheduler = s.schedule.make(s.optimizer, s.schedule_args, steps_per_epoch(s), t.epochs)
    scaler = torch.amp.GradScaler(s.device.type) if t.precision == "fp16" and s.device.type == "cuda" else None
    s.train_net = training_module(s, s.dist)
    s.stepper = Stepper(s.net, s.optimizer, s.scheduler, s.schedule.per_step, s.autocast,
                        t.grad_clip, t.l1, t.l2, scaler)
    items = s.resolved.recipe.data.augment
    s.augment = augment.compose(items, s.data.dataset.info) if items else None


def steps_per_epoch(s: Session) -> int:
    n, bs = s.data.size("train"), s.batch_size
    # a last batch of one sample per rank would break batch norm; it is reshuffled into the next epoch
    tail = n % bs
    return n // bs if 0 < tail < 2 * s.dist.world and n > bs else max(1, -(-n // bs))
