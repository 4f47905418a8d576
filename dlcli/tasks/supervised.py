"""Supervised learning, shared by classification and regression: one network `net` from raw inputs
to one score per class or one value per target, one loss, one optimizer."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Optional

from dlcli.tasks.base import ExportModule, Network, TaskBase, predict_batched


class Supervised(TaskBase):
    """One forward, one loss, one step; metrics in the targets' own units."""

    def network_names(self) -> list[str]:
        return ["net"]

    def logged(self, split: str, metric_names: list = ()) -> list[str]:
        """What train steps (split "train") or evaluate (val, test) report, by name."""
        return ["loss"] if split == "train" else ["loss", *metric_names]

    def networks(self, info: Any) -> dict[str, Network]:
        return {"net": Network(tuple(info.input_shape), info.outputs, about="inputs -> one output per class or target")}

    def optimizers(self) -> dict[str, tuple[str, ...]]:
        return {"model": ("net",)}

    def train_step(self, batch: Any, fit: Any) -> dict:
        x, y = batch
        with fit.autocast():
            out = fit.train_nets["net"](x)
        loss = fit.loss_fn(out.float(), y)
        fit.step(loss)
        return {"loss": loss.detach()}

    def evaluate(self, split: str, fit: Any) -> dict:
        from dlcli.tasks.metrics import metrics

        net, y = fit.nets["net"], fit.data.y[split]
        was_training = net.training
        net.eval()
        with fit.autocast() if fit.autocast else nullcontext():
            out = predict_batched(net, fit.data.x[split], fit.eval_batch_size)
        net.train(was_training)
        result = {"loss": fit.loss_fn(out, y).item()}
        out, y = fit.unscale(out), fit.unscale(y)
        for name in fit.metric_names:
            result[name] = metrics.get(name)()(out, y)
        return {**result, **self.breakdown(out, y, split, fit)}

    def breakdown(self, out: Any, y: Any, split: str, fit: Any) -> dict:
        """Figures beyond the metrics, per group of samples; none by default."""
        return {}

    def export_modules(self, fit: Any) -> dict[str, ExportModule]:
        """model.onnx: the whole saved pipeline, raw inputs in, scores or target values out."""
        return {"model": ExportModule(fit.model, {"input": fit.held_out_raw()}, ["output"])}

    def flops_per_sample(self, fit: Any) -> Optional[float]:
        from dlcli.nn.flops import flops_per_sample

        bs = min(fit.batch_size, fit.data.size("train"))
        return flops_per_sample(fit.nets["net"], fit.data.x["train"][:bs], fit.data.y["train"][:bs], fit.loss_fn)
