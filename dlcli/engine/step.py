"""One optimisation step, shared by every task: backward, penalties, clipping, step, schedule."""
from __future__ import annotations

from typing import Any, Callable, Optional


class Stepper:
    """Owns the optimizer side of training so tasks only compute losses."""

    def __init__(self, model: Any, optimizer: Any, scheduler: Any, per_step: bool, autocast: Callable[[], Any],
                 grad_clip: Optional[float] = None, l1: float = 0.0, l2: float = 0.0, scaler: Any = None):
        self.model, self.optimizer, self.scheduler, self.per_step = model, optimizer, scheduler, per_step
        self.autocast, self.grad_clip, self.l1, self.l2, self.scaler = autocast, grad_clip, l1, l2, scaler
        self.weights = [p for p in model.parameters() if p.ndim >= 2] if (l1 or l2) else []

    def penalty(self) -> Any:
        total = 0.0
        for w in self.weights:
            if self.l1:
                total = total + self.l1 * w.abs().sum()
            if self.l2:
                total = total + self.l2 * w.pow(2).sum()
        return total

    def optimize(self, loss: Any) -> None:
        if self.weights:
            loss = loss + self.penalty()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.grad_clip:
            import torch

            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.per_step:
            self.scheduler.step()
