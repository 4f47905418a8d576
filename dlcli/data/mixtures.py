"""Mixtures of 2-D Gaussians: the mode-collapse benchmarks of GAN papers.

`ring8` (8 Gaussians on a circle) and `grid25` (a 5x5 grid of Gaussians) are the toy
distributions of VEEGAN (Srivastava et al., 2017) and Unrolled GANs (Metz et al., 2017): a
generator that collapses covers few of the modes, which is easy to count because the modes are
known. So each source also tells its `modes(args)` (the (K, 2) means) and `mode_std(args)`, for a
task to score generated points against (modes covered, share of points near a mode).

Samples are dealt to the modes in turn (balanced, as blobs are), then shuffled with the seed; a
sample's label is the index of its mode, so `info` (samples, class counts) is known without
generating anything.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import Field

from dlcli.data.base import DataInfo, Dataset, LabelKind, Source, SourceArgs, sources
from dlcli.data.builtin import balanced, numbered


class _Mixture(Source):
    """Equal-weight isotropic Gaussians in 2-D, one class per mode; subclasses place the modes."""

    def modes(self, a: Any) -> np.ndarray:
        """The (K, 2) float64 means, row k the mode of label k."""
        raise NotImplementedError

    def mode_std(self, a: Any) -> float:
        """The standard deviation of every mode along each axis."""
        return float(a.std)

    def info(self, a: Any, base: Path, labels: Optional[LabelKind] = None) -> DataInfo:
        k = len(self.modes(a))
        return DataInfo((2,), "classes", "tabular", classes=numbered(k), samples=a.size,
                        class_counts=balanced(a.size, k))

    def load(self, a: Any, base: Path, labels: Optional[LabelKind] = None) -> Dataset:
        means = self.modes(a)
        rng = np.random.default_rng(a.seed)
        y = rng.permutation(np.arange(a.size) % len(means))  # dealt in turn, in no mode order
        x = means[y] + rng.normal(0.0, self.mode_std(a), (a.size, 2))
        extra = {"modes": means, "mode_std": self.mode_std(a)}  # what a generative task scores against
        return Dataset(x.astype(np.float32), y.astype(np.int64), self.info(a, base), extra=extra)


class Ring8Args(SourceArgs):
    size: int = Field(2000, ge=1, description="number of samples")
    radius: float = Field(2.0, gt=0, description="radius of the circle the modes sit on")
    std: float = Field(0.02, ge=0, description="standard deviation of each mode along each axis")
    modes: int = Field(8, ge=1, description="number of modes, evenly spaced on the circle")
    seed: int = Field(0, description="random seed; the same seed gives the same samples")


class Grid25Args(SourceArgs):
    size: int = Field(2000, ge=1, description="number of samples")
    spacing: float = Field(2.0, gt=0, description="distance between neighbouring modes")
    std: float = Field(0.05, ge=0, description="standard deviation of each mode along each axis")
    side: int = Field(5, ge=1, description="modes per side of the square grid (side x side modes)")
    seed: int = Field(0, description="random seed; the same seed gives the same samples")


@sources.register("ring8")
class Ring8(_Mixture):
    """8 Gaussians on a circle of radius 2, std 0.02 (VEEGAN / Unrolled GAN benchmark); label = mode."""

    Args = Ring8Args

    def modes(self, a: Ring8Args) -> np.ndarray:
        """Mode k at angle 2*pi*k/modes on the circle, starting at (radius, 0)."""
        angle = 2 * np.pi * np.arange(a.modes) / a.modes
        return a.radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


@sources.register("grid25")
class Grid25(_Mixture):
    """A 5x5 grid of Gaussians at {-4,-2,0,2,4}^2, std 0.05 (VEEGAN / Unrolled GAN benchmark); label = mode."""

    Args = Grid25Args

    def modes(self, a: Grid25Args) -> np.ndarray:
        """Mode i*side + j at (c_i, c_j), where c = spacing * (0..side-1 - (side-1)/2): centred on 0."""
        c = a.spacing * (np.arange(a.side) - (a.side - 1) / 2)
        rows, cols = np.meshgrid(c, c, indexing="ij")
        return np.stack([rows.ravel(), cols.ravel()], axis=1)
