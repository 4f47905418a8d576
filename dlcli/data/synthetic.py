"""Synthetic images: CIFAR-sized class-labelled data generated in memory from a seed.

For benchmarks and tests that need realistic tensor sizes without a download. Each class is a
fixed random low-frequency pattern (a few coloured plane waves, stronger at low frequencies, the
way natural images are); every sample jitters the pattern's coefficients, moves it by a random
circular shift of up to a quarter of the image and adds pixel noise. A shift changes each wave's
phase only, so a sample is one matrix product of per-sample coefficients with a fixed basis:
50,000 3x32x32 images take about a second with numpy alone.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import Field, PositiveInt

from dlcli.data.base import DataInfo, Dataset, LabelKind, Source, SourceArgs, sources
from dlcli.data.builtin import balanced, numbered

MAX_CYCLES = 3  # per image side: low enough that a pattern survives the network's first pooling
MAX_SHIFT = 0.25  # of the image size, either way
CONTRAST = 32.0  # grey levels of one standard deviation of the clean patterns, and of noise 1.0
CHUNK = 2048  # samples rendered at a time: bounded float32 scratch memory whatever `samples` is


class SyntheticImagesArgs(SourceArgs):
    samples: PositiveInt = Field(50000, description="number of images")
    shape: tuple[PositiveInt, PositiveInt, PositiveInt] = Field((3, 32, 32), description="[channels, height, width]")
    classes: int = Field(10, ge=2, description="number of classes (equally many images each)")
    seed: int = Field(0, description="random seed; the same seed gives the same images")
    noise: float = Field(1.0, ge=0, description="per-sample variation relative to the class pattern: coefficient "
                         "jitter and pixel noise; 0 leaves only the shifts")


def frequencies() -> np.ndarray:
    """(J, 2) wave numbers (cycles per image along height, width): the constant term (a colour
    mean) and one of each +-pair, since cos and sin of -f add nothing new."""
    f = [(fy, fx) for fy in range(MAX_CYCLES + 1) for fx in range(-MAX_CYCLES, MAX_CYCLES + 1)
         if fy > 0 or fx >= 0]
    return np.array(f, dtype=np.float64)


def wave_basis(f: np.ndarray, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """(2J, C*H*W) float32: each wave's cosine and sine images, each coloured by a random unit
    vector over the channels, so a real coefficient pair (re, im) renders re*cos - im*sin."""
    c, h, w = shape
    colour = rng.normal(size=(len(f), c))
    colour /= np.linalg.norm(colour, axis=1, keepdims=True)
    rows, cols = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    theta = 2 * np.pi * (f[:, 0, None, None] * rows + f[:, 1, None, None] * cols)  # (J, H, W)
    waves = np.concatenate([np.cos(theta), -np.sin(theta)])  # (2J, H, W)
    coloured = np.concatenate([colour, colour])[:, :, None, None] * waves[:, None]  # (2J, C, H, W)
    return coloured.reshape(2 * len(f), -1).astype(np.float32)


def complex_normal(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def render(amplitudes: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(N, J) complex wave amplitudes -> (N, C*H*W) float32 images."""
    return np.concatenate([amplitudes.real, amplitudes.imag], axis=1).astype(np.float32) @ basis


@sources.register("synthetic_images")
class SyntheticImages(Source):
    """Seeded synthetic uint8 images (default 50000 x 3x32x32, 10 classes): a low-frequency pattern per class, shifted and noised."""

    Args = SyntheticImagesArgs

    def info(self, a: SyntheticImagesArgs, base: Path, labels: Optional[LabelKind] = None) -> DataInfo:
        return DataInfo(tuple(a.shape), "classes", "image", classes=numbered(a.classes), samples=a.samples,
                        class_counts=balanced(a.samples, a.classes))

    def load(self, a: SyntheticImagesArgs, base: Path, labels: Optional[LabelKind] = None) -> Dataset:
        info = self.info(a, base)
        rng = np.random.default_rng(a.seed)
        f = frequencies()
        basis = wave_basis(f, a.shape, rng)
        spectrum = 1.0 / (1.0 + np.hypot(f[:, 0], f[:, 1]))  # 1/f fall-off, as in natural images
        patterns = complex_normal(rng, (a.classes, len(f))) * spectrum
        y = rng.permutation(np.arange(a.samples) % a.classes)  # balanced, in no class order
        gain = np.float32(CONTRAST / render(patterns, basis).std())
        x = np.empty((a.samples, basis.shape[1]), np.uint8)
        for start in range(0, a.samples, CHUNK):
            labels = y[start:start + CHUNK]
            amplitudes = self.jittered(patterns[labels], f, spectrum, a.noise, rng)
            x[start:start + len(labels)] = self.pixels(render(amplitudes, basis), gain, a.noise, rng)
        return Dataset(x.reshape((a.samples, *a.shape)), y.astype(np.int64), info)

    @staticmethod
    def jittered(amplitudes: np.ndarray, f: np.ndarray, spectrum: np.ndarray, noise: float,
                 rng: np.random.Generator) -> np.ndarray:
        """Each sample's wave amplitudes: its class's, shifted (a phase per wave) and jittered."""
        shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, (len(amplitudes), 2))  # fractions of (H, W)
        phase = np.exp(2j * np.pi * (shift @ f.T))  # (N, J)
        return amplitudes * phase + noise * spectrum * complex_normal(rng, amplitudes.shape)

    @staticmethod
    def pixels(images: np.ndarray, gain: np.float32, noise: float, rng: np.random.Generator) -> np.ndarray:
        """Float images -> uint8 around mid-grey, plus uniform pixel noise of std CONTRAST * noise."""
        images *= gain
        grain = rng.random(images.shape, dtype=np.float32)
        grain -= np.float32(0.5)
        grain *= np.float32(CONTRAST * noise * 12 ** 0.5)  # U(-0.5, 0.5) has std 1/sqrt(12)
        images += grain
        images += np.float32(127.5)
        np.clip(images, 0, 255, out=images)
        return images.astype(np.uint8)
