"""Search samplers, by name (Optuna underneath). Optuna is imported only when a study starts."""
from __future__ import annotations

from typing import Any

from dlcli.registry import Registry

samplers = Registry("sampler")


@samplers.register("tpe")
class TPE:
    """Tree-structured Parzen estimator (Bergstra et al. 2011): samples where good trials cluster."""

    def make(self, search: Any, seed: int) -> Any:
        from optuna.samplers import TPESampler

        return TPESampler(seed=seed)


@samplers.register("random")
class Random:
    """Independent uniform (or log-uniform) draws: the baseline every sampler must beat."""

    def make(self, search: Any, seed: int) -> Any:
        from optuna.samplers import RandomSampler

        return RandomSampler(seed=seed)


@samplers.register("grid")
class Grid:
    """Every combination of `choices` and stepped ranges, in random order."""

    def make(self, search: Any, seed: int) -> Any:
        from optuna.samplers import GridSampler

        from dlcli.search.space import grid

        return GridSampler(grid(search.space), seed=seed)


@samplers.register("cmaes")
class CmaEs:
    """CMA-ES (Hansen 2016): adapts a Gaussian over numeric parameters; categoricals drawn at random."""

    def make(self, search: Any, seed: int) -> Any:
        from optuna.samplers import CmaEsSampler

        return CmaEsSampler(seed=seed, warn_independent_sampling=False)


@samplers.register("qmc")
class QMC:
    """Scrambled Sobol quasi-random points: covers the space more evenly than random draws."""

    def make(self, search: Any, seed: int) -> Any:
        from optuna.samplers import QMCSampler

        return QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False)


@samplers.register("nsga2")
class NSGA2:
    """NSGA-II (Deb et al. 2002), a genetic algorithm for several objectives (a Pareto front)."""

    def make(self, search: Any, seed: int) -> Any:
        from optuna.samplers import NSGAIISampler

        return NSGAIISampler(seed=seed)
