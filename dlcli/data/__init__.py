"""Data: sources (builtin, synthetic, Gaussian mixtures, csv, npz, image folders, text, algorithmic
sequences), splits, normalisation, augmentation.

Importing this package fills the `sources`, `normalizers` and `augmentations` registries; it
imports neither torch nor scikit-learn, so validating a recipe stays fast.
"""
from dlcli.data import augment, builtin, files, mixtures, normalize, npz, sequences, splits, synthetic, text  # noqa: F401  (registration)
from dlcli.data.augment import AugmentError, check, compose
from dlcli.data.base import DataInfo, Dataset, LabelKind, Source, SourceError, augmentations, normalizers, sources
from dlcli.data.splits import split_indices, splits_digest

__all__ = [
    "AugmentError", "DataInfo", "Dataset", "LabelKind", "Source", "SourceError", "augmentations", "check", "compose",
    "normalizers", "sources", "split_indices", "splits_digest",
]
