"""Builtin sources: scikit-learn's embedded datasets and seeded synthetic 2-D problems.

`info` is hardcoded so that `dlcli validate` never reads a file; `load` reads the files
scikit-learn ships without importing it (data/embedded.py) and builds its DataInfo from what
it read, and the tests check that the two agree. A builtin dataset's labels are what they are
(the `labels` hint is for files), and any task may use it, whether or not it reads them.
Nothing here touches the network.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Optional

import numpy as np
from pydantic import Field

from dlcli.data.base import DataInfo, Dataset, LabelKind, Source, SourceArgs, sources


def numbered(k: int) -> list[str]:
    return [str(i) for i in range(k)]


def balanced(n: int, k: int) -> list[int]:
    """Samples per class when n samples are dealt to k classes in turn (the first n % k get one more):
    how make_moons, make_circles, make_blobs and the seeded generators here share them out."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


class _Embedded(Source):
    """One of scikit-learn's embedded datasets; subclasses name the loader and the hardcoded info."""

    loader: ClassVar[str]
    known: ClassVar[DataInfo]

    def info(self, a: Any, base: Path, labels: Optional[LabelKind] = None) -> DataInfo:
        return copy.deepcopy(self.known)

    def load(self, a: Any, base: Path, labels: Optional[LabelKind] = None) -> Dataset:
        from dlcli.data import embedded

        bunch = embedded.read(self.loader, self.known.feature_names)
        x = np.asarray(bunch.data, dtype=np.float32).reshape((len(bunch.data),) + self.known.input_shape)
        if self.known.labels == "values":
            y = np.asarray(bunch.target, dtype=np.float32).reshape(len(x), -1)
            info = DataInfo(x.shape[1:], "values", "tabular", targets=y.shape[1],
                            feature_names=[str(f) for f in bunch.feature_names], samples=len(x))
        else:
            y = np.asarray(bunch.target, dtype=np.int64)
            names = None if self.known.layout == "image" else [str(f) for f in bunch.feature_names]
            classes = [str(c) for c in bunch.target_names]
            info = DataInfo(x.shape[1:], "classes", self.known.layout, classes=classes, feature_names=names,
                            raw_shape=self.known.raw_shape, samples=len(x),
                            class_counts=np.bincount(y, minlength=len(classes)).tolist())
        return Dataset(x, y, info)


@sources.register("digits")
class Digits(_Embedded):
    """Handwritten digits, 1797 grayscale 8x8 images (raw 0..16), 10 classes (scikit-learn)."""

    loader = "digits"
    known = DataInfo((1, 8, 8), "classes", "image", classes=numbered(10), raw_shape=(64,), samples=1797,
                     class_counts=[178, 182, 177, 183, 181, 182, 181, 179, 174, 180])


@sources.register("iris")
class Iris(_Embedded):
    """Iris flowers, 150 samples, 4 measurements (cm), 3 species (scikit-learn)."""

    loader = "iris"
    known = DataInfo((4,), "classes", "tabular", classes=["setosa", "versicolor", "virginica"],
                     feature_names=["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
                     samples=150, class_counts=[50, 50, 50])


@sources.register("wine")
class Wine(_Embedded):
    """Wine cultivars, 178 samples, 13 chemical measurements, 3 classes (scikit-learn)."""

    loader = "wine"
    known = DataInfo((13,), "classes", "tabular", classes=["class_0", "class_1", "class_2"], feature_names=[
        "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
        "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue", "od280/od315_of_diluted_wines",
        "proline"], samples=178, class_counts=[59, 71, 48])


_CELL = ["radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
         "concave points", "symmetry", "fractal dimension"]


@sources.register("breast_cancer")
class BreastCancer(_Embedded):
    """Breast tumour biopsies, 569 samples, 30 cell-nucleus features, malignant or benign (scikit-learn)."""

    loader = "breast_cancer"
    known = DataInfo((30,), "classes", "tabular", classes=["malignant", "benign"],
                     feature_names=[f"mean {c}" for c in _CELL] + [f"{c} error" for c in _CELL]
                     + [f"worst {c}" for c in _CELL], samples=569, class_counts=[212, 357])


@sources.register("diabetes")
class Diabetes(_Embedded):
    """Diabetes progression, 442 patients, 10 standardised features, 1 real-valued target (scikit-learn)."""

    loader = "diabetes"
    known = DataInfo((10,), "values", "tabular", targets=1, samples=442,
                     feature_names=["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"])


# Synthetic sources: each has its own Args because the sensible noise differs per problem.


class _Synthetic(Source):
    """A seeded 2-D problem with class labels; subclasses implement `generate` and `classes`."""

    def classes(self, a: Any) -> int:
        return 2

    def features(self, a: Any) -> int:
        return 2

    def info(self, a: Any, base: Path, labels: Optional[LabelKind] = None) -> DataInfo:
        k = self.classes(a)
        return DataInfo((self.features(a),), "classes", "tabular", classes=numbered(k), samples=a.size,
                        class_counts=self.counts(a.size, k))

    def counts(self, n: int, k: int) -> list[int]:
        return balanced(n, k)

    def load(self, a: Any, base: Path, labels: Optional[LabelKind] = None) -> Dataset:
        info = self.info(a, base)
        x, y = self.generate(a)
        return Dataset(np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64), info)

    def generate(self, a: Any) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class MoonsArgs(SourceArgs):
    size: int = Field(1000, ge=2, description="number of samples")
    noise: float = Field(0.1, ge=0, description="standard deviation of the Gaussian noise")
    seed: int = Field(0, description="random seed; the same seed gives the same samples")


class CirclesArgs(MoonsArgs):
    noise: float = Field(0.05, ge=0, description="standard deviation of the Gaussian noise")


class BlobsArgs(MoonsArgs):
    noise: float = Field(1.0, ge=0, description="standard deviation of each blob")
    classes: int = Field(3, ge=2, description="number of blobs (one class each)")
    features: int = Field(2, ge=1, description="dimensions of each sample")


class SpiralsArgs(MoonsArgs):
    noise: float = Field(0.05, ge=0, description="standard deviation of the Gaussian noise")
    classes: int = Field(2, ge=2, description="number of spiral arms (one class each)")
    turns: float = Field(1.5, gt=0, description="how many times each arm winds around the centre")


@sources.register("moons")
class Moons(_Synthetic):
    """Two interleaving half circles in 2-D, 2 classes (seeded; scikit-learn make_moons)."""

    Args = MoonsArgs

    def counts(self, n: int, k: int) -> list[int]:
        return [n // 2, n - n // 2]  # scikit-learn gives the odd sample to the second class

    def generate(self, a: MoonsArgs) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import make_moons

        return make_moons(n_samples=a.size, noise=a.noise, random_state=a.seed)


@sources.register("circles")
class Circles(_Synthetic):
    """A small circle inside a large one in 2-D (radius ratio 0.5), 2 classes (seeded)."""

    Args = CirclesArgs

    def counts(self, n: int, k: int) -> list[int]:
        return [n // 2, n - n // 2]  # scikit-learn gives the odd sample to the second class

    def generate(self, a: CirclesArgs) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import make_circles

        return make_circles(n_samples=a.size, noise=a.noise, factor=0.5, random_state=a.seed)


@sources.register("blobs")
class Blobs(_Synthetic):
    """Isotropic Gaussian blobs, one per class, in `features` dimensions (seeded)."""

    Args = BlobsArgs

    def classes(self, a: BlobsArgs) -> int:
        return a.classes

    def features(self, a: BlobsArgs) -> int:
        return a.features

    def generate(self, a: BlobsArgs) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import make_blobs

        return make_blobs(n_samples=a.size, n_features=a.features, centers=a.classes,
                          cluster_std=a.noise, random_state=a.seed)


@sources.register("spirals")
class Spirals(_Synthetic):
    """Interleaved spiral arms in 2-D, one class per arm (the two-spirals problem; seeded)."""

    Args = SpiralsArgs

    def classes(self, a: SpiralsArgs) -> int:
        return a.classes

    def generate(self, a: SpiralsArgs) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(a.seed)
        y = np.arange(a.size) % a.classes  # balanced arms
        t = rng.uniform(0.0, 1.0, a.size)  # position along the arm: radius grows with the angle
        angle = 2 * np.pi * (a.turns * t + y / a.classes)
        x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
        x += rng.normal(0.0, a.noise, x.shape)
        order = rng.permutation(a.size)  # no class runs in file order
        return x[order], y[order]
