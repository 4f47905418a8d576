"""Search pruners, by name: they stop unpromising trials from the objective reported each epoch."""
from __future__ import annotations

from typing import Any

from dlcli.registry import Registry

pruners = Registry("pruner")
STARTUP_TRIALS = 4  # trials that always run to the end, so there is something to compare with


@pruners.register("none")
class NoPruning:
    """Every trial trains all its epochs."""

    def make(self, epochs: int) -> Any:
        from optuna.pruners import NopPruner

        return NopPruner()


@pruners.register("median")
class Median:
    """Stop a trial whose value at an epoch is worse than the median of earlier trials at that epoch."""

    def make(self, epochs: int) -> Any:
        from optuna.pruners import MedianPruner

        return MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=1)


@pruners.register("percentile")
class Percentile:
    """Stop a trial outside the best 25% of earlier trials at the same epoch (stricter than median)."""

    def make(self, epochs: int) -> Any:
        from optuna.pruners import PercentilePruner

        return PercentilePruner(25.0, n_startup_trials=STARTUP_TRIALS, n_warmup_steps=1)


@pruners.register("successive_halving")
class SuccessiveHalving:
    """Asynchronous successive halving (ASHA, Li et al. 2020): promote the best fraction at rungs 1, 4, 16 epochs."""

    def make(self, epochs: int) -> Any:
        from optuna.pruners import SuccessiveHalvingPruner

        return SuccessiveHalvingPruner(min_resource=1)


@pruners.register("hyperband")
class Hyperband:
    """Hyperband (Li et al. 2018): several successive-halving brackets up to the recipe's epochs."""

    def make(self, epochs: int) -> Any:
        from optuna.pruners import HyperbandPruner

        return HyperbandPruner(min_resource=1, max_resource=epochs)
