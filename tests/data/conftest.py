"""Small data files for the source tests, and a private image cache for every test."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Decoded-image caches go to a fresh folder, never to the user's ~/.cache."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("DLCLI_CACHE", str(cache))
    return cache


def write_csv(path: Path, header: list[str], rows: list[list], delimiter: str = ",") -> Path:
    lines = [delimiter.join(header)] + [delimiter.join(str(c) for c in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_pngs(root: Path, counts: dict[str, int], hw: tuple[int, int] = (10, 12), seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 256, hw + (3,), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def source_args(tmp_path):
    """name -> arguments that make the source work with its defaults (files written to tmp_path)."""

    def make(name: str) -> dict:
        if name == "csv":
            rows = [[i * 0.5, (i * 7) % 5, ["ham", "spam", "eggs"][i % 3]] for i in range(30)]
            write_csv(tmp_path / "table.csv", ["a", "b", "label"], rows)
            return {"path": "table.csv", "target": "label"}
        if name == "npz":
            rng = np.random.default_rng(0)
            np.savez(tmp_path / "arrays.npz", x=rng.normal(size=(20, 5)), y=np.arange(20) % 4)
            return {"path": "arrays.npz"}
        if name == "synthetic_images":
            return {"samples": 200}  # the default 50,000 would only slow the contract tests
        if name == "image_folder":
            write_pngs(tmp_path / "images", {"cat": 3, "dog": 2})
            return {"path": "images"}
        if name == "text":
            (tmp_path / "c.txt").write_text("the quick brown fox jumps over the lazy dog. " * 12)
            return {"path": "c.txt"}
        if name == "python_stdlib":
            return {"max_chars": 200_000}  # the default 2M characters would only slow the contract tests
        return {}

    return make


@pytest.fixture
def csv_writer():
    return write_csv


@pytest.fixture
def png_writer():
    return write_pngs
