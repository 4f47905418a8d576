"""The InPCA atlas: Bhattacharyya distances against the formula, the exactness of the signed
embedding (negative eigenvalues included), its ordering and stress, a known 1-parameter geometry,
and atlas.png with its numbers beside it."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcli.analysis import atlas_plot, inpca as inpca_module
from dlcli.analysis.inpca import bhattacharyya, embed, inpca

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


def random_models(m: int, n: int, c: int, seed: int = 0, alpha: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.full(c, alpha), size=(m, n))


def direct(P: np.ndarray) -> np.ndarray:
    """The formula, pair by pair, on rows renormalised in float64."""
    P = P.astype(np.float64)
    P = P / P.sum(axis=-1, keepdims=True)
    m = len(P)
    return np.array([[-np.mean(np.log(np.sum(np.sqrt(P[u] * P[v]), axis=-1))) for v in range(m)] for u in range(m)])


def signed_squares(coords: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """sum_k sign_k (X[u, k] - X[v, k])^2 for every pair."""
    return (signs * (coords[:, None, :] - coords[None, :, :]) ** 2).sum(axis=-1)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---- distances ---------------------------------------------------------------------------------

def test_distances_equal_the_direct_formula():
    P = random_models(6, 7, 3)
    D = bhattacharyya(P)
    assert D.shape == (6, 6)
    np.testing.assert_allclose(D, direct(P), rtol=0, atol=1e-12)
    assert np.array_equal(D, D.T) and np.all(np.diag(D) == 0.0) and D.min() >= 0.0
    assert D[np.triu_indices(6, 1)].min() > 1e-3  # distinct models are apart


def test_blocks_and_chunks_do_not_change_the_result(monkeypatch):
    P = random_models(11, 37, 4, seed=3)  # 37 samples: a last chunk and a last product group that are partial
    whole = bhattacharyya(P, chunk=1000)
    np.testing.assert_allclose(bhattacharyya(P, chunk=1), whole, rtol=0, atol=1e-13)
    np.testing.assert_allclose(bhattacharyya(P, chunk=5), whole, rtol=0, atol=1e-13)
    monkeypatch.setattr(inpca_module, "BLOCK", 4)  # 11 models: 3 x 3 blocks, ragged at the edge
    np.testing.assert_allclose(bhattacharyya(P, chunk=3), direct(P), rtol=0, atol=1e-12)


def test_float16_and_unnormalised_input_is_renormalised():
    P = random_models(5, 9, 4, seed=1)
    half = P.astype(np.float16)
    assert np.abs(half.astype(np.float64).sum(-1) - 1).max() > 0  # rows no longer sum to 1
    D16 = bhattacharyya(half)
    np.testing.assert_allclose(D16, direct(half), rtol=0, atol=1e-12)
    np.testing.assert_allclose(D16, bhattacharyya(P), rtol=0, atol=5e-3)
    np.testing.assert_allclose(bhattacharyya(2.5 * P), bhattacharyya(P), rtol=0, atol=1e-12)


def test_disjoint_predictions_are_far_but_finite():
    P = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    D = bhattacharyya(P)
    assert D[0, 1] == pytest.approx(-np.log(inpca_module.FLOOR)) and np.isfinite(D).all()


def identical_runs() -> tuple[np.ndarray, int]:
    """Runs A, B (a copy of A) and C, 4 epochs each: rows 0-3, 4-7, 8-11."""
    a, c = random_models(4, 10, 5, seed=4), random_models(4, 10, 5, seed=5)
    return np.concatenate([a, a.copy(), c]).astype(np.float32), 4


def test_identical_runs_have_identical_rows_and_one_point_each_epoch():
    P, epochs = identical_runs()
    D = bhattacharyya(P)
    assert np.array_equal(D[:epochs], D[epochs:2 * epochs])
    assert np.all(np.diag(D[:epochs, epochs:2 * epochs]) == 0.0)  # a model against its copy
    assert D[0, 8] > 0
    for components in (None, 3):
        coords = inpca(D, components).coords
        assert np.array_equal(coords[:epochs], coords[epochs:2 * epochs])
        assert not np.allclose(coords[:epochs], coords[2 * epochs:])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"\(models, samples, classes\).*shape \(3, 4\)"):
        bhattacharyya(np.ones((3, 4)))
    with pytest.raises(ValueError, match="negative"):
        bhattacharyya(-random_models(2, 3, 2))
    zero = random_models(2, 3, 2)
    zero[1, 2] = 0.0
    with pytest.raises(ValueError, match=r"P\[1, 2\] \(model 1, sample 2\) sums to 0"):
        bhattacharyya(zero)
    with pytest.raises(ValueError, match="chunk"):
        bhattacharyya(random_models(2, 3, 2), chunk=0)
    with pytest.raises(ValueError, match="symmetric"):
        inpca(np.array([[0.0, 1.0], [2.0, 0.0]]))


# ---- the embedding -----------------------------------------------------------------------------

def non_euclidean() -> np.ndarray:
    """Peaked predictions: their W has clearly negative eigenvalues."""
    return bhattacharyya(random_models(8, 5, 10, seed=0, alpha=0.1))


def test_all_components_reproduce_the_distances_with_negative_eigenvalues():
    D = non_euclidean()
    result = inpca(D)
    assert result.eigenvalues.min() < -1e-2  # a time-like direction exists and is kept
    assert np.abs(signed_squares(result.coords, result.signs) - D).max() < 1e-9
    positive_only = result.signs > 0  # dropping the negative components breaks it
    assert np.abs(signed_squares(result.coords[:, positive_only], 1) - D).max() > 1e-3


def test_euclidean_case_reproduces_the_distances():
    D = bhattacharyya(random_models(9, 20, 4, seed=2))
    result = inpca(D)
    assert np.abs(signed_squares(result.coords, result.signs) - D).max() < 1e-9


def test_order_signs_and_explained_stress():
    D = non_euclidean()
    m = len(D)
    result = inpca(D)
    magnitudes = np.abs(result.eigenvalues)
    assert np.all(np.diff(magnitudes) <= 0)
    assert np.array_equal(result.signs, np.where(result.eigenvalues < 0, -1, 1))
    L = np.eye(m) - np.ones((m, m)) / m
    W = -0.5 * L @ D @ L
    np.testing.assert_allclose(np.sort(result.eigenvalues), np.linalg.eigvalsh(W), atol=1e-12)
    stress = [result.explained_stress(k) for k in range(1, m + 1)]
    assert np.all(np.diff(stress) >= 0) and stress[0] < stress[2] and stress[-1] == 1.0
    assert stress[1] == pytest.approx((result.eigenvalues[:2] ** 2).sum() / np.sum(W ** 2), abs=1e-12)
    top = inpca(D, components=2)
    assert top.coords.shape == (m, 2) and np.allclose(top.coords, result.coords[:, :2], atol=1e-12)
    assert top.explained_stress(2) == pytest.approx(stress[1], abs=1e-15)
    assert top.explained_stress(m) == 1.0  # the stress of every component is kept, not only the top 2
    with pytest.raises(ValueError, match=f"1..{m} components"):
        top.explained_stress(m + 1)


def test_a_one_parameter_family_lies_along_the_first_component():
    logits = np.random.default_rng(7).normal(size=(60, 6))
    t = np.linspace(0.2, 3.0, 15)
    P = np.stack([softmax(s * logits) for s in t])
    result = inpca(bhattacharyya(P), components=3)
    assert result.explained_stress(1) > 0.9
    first = result.coords[:, 0]
    assert np.all(np.diff(first) > 0) or np.all(np.diff(first) < 0)


def test_embed_is_json_able():
    P, _ = identical_runs()
    out = json.loads(json.dumps(embed(P, components=3)))
    assert out["points"] == 12 and np.array(out["coords"]).shape == (12, 3)
    assert len(out["eigenvalues"]) == len(out["signs"]) == len(out["explained_stress"]) == 3
    assert out["explained_stress"] == sorted(out["explained_stress"]) and 0 < out["explained_stress"][2] <= 1
    assert set(out["seconds"]) == {"distances", "eigen"}


def test_importing_leaves_torch_and_matplotlib_unloaded():
    code = ("import sys, dlcli.analysis.inpca, dlcli.analysis.atlas_plot; "
            "print([m for m in ('torch', 'matplotlib') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


# ---- the picture -------------------------------------------------------------------------------

def atlas_inputs(components: int = 3):
    P, epochs = identical_runs()
    result = inpca(bhattacharyya(P), components)
    stress = [result.explained_stress(k) for k in range(1, components + 1)]
    trajectories = [{"label": name, "rows": list(range(i * epochs, (i + 1) * epochs)), "epochs": [1, 2, 3, 4],
                     "value": lr} for i, (name, lr) in enumerate([("a", 1e-3), ("b", 1e-2), ("c", None)])]
    return result, stress, trajectories


def table(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_atlas_by_run_writes_png_csv_and_json(tmp_path):
    result, stress, trajectories = atlas_inputs()
    paths = atlas_plot.draw_atlas(result.coords, result.eigenvalues, stress, trajectories, tmp_path)
    assert [p.name for p in paths] == ["atlas.png", "atlas.csv", "atlas.json"]
    assert paths[0].read_bytes()[:8] == PNG_MAGIC
    rows = table(paths[1])
    assert rows[0] == ["label", "epoch", "value", "c1", "c2", "c3"] and len(rows) == 1 + 12
    assert rows[5][:3] == ["b", "1", "0.01"] and rows[9][:3] == ["c", "1", ""]
    assert float(rows[5][3]) == pytest.approx(result.coords[4, 0])
    assert float(rows[12][5]) == pytest.approx(result.coords[11, 2])
    data = json.loads(paths[2].read_text())
    assert data["labels"] == ["a", "b", "c"] and data["explained_stress"] == pytest.approx(stress)
    assert data["signs"] == result.signs.tolist() and data["eigenvalues"] == pytest.approx(result.eigenvalues.tolist())
    again = atlas_plot.draw_atlas(result.coords, result.eigenvalues, stress, trajectories, tmp_path / "again")
    assert again[0].read_bytes() == paths[0].read_bytes()  # the same input gives the same bytes


def test_atlas_by_value_uses_a_colorbar_and_differs(tmp_path):
    result, stress, trajectories = atlas_inputs()
    by_run = atlas_plot.draw_atlas(result.coords, result.eigenvalues, stress, trajectories, tmp_path / "run")
    by_lr = atlas_plot.draw_atlas(result.coords, result.eigenvalues, stress, trajectories, tmp_path / "lr", "lr")
    assert by_lr[0].read_bytes()[:8] == PNG_MAGIC and by_lr[0].read_bytes() != by_run[0].read_bytes()
    assert json.loads(by_lr[2].read_text())["colour_by"] == "lr"
    colours, legend, mapping = atlas_plot._colours(trajectories, "lr")
    assert mapping is not None and legend == {} and colours[2] == atlas_plot.GREY  # no value: grey
    assert colours[0] != colours[1]
    colours, legend, mapping = atlas_plot._colours(trajectories, "run")
    assert mapping is None and list(legend) == ["a", "b", "c"]


def test_atlas_with_text_values_and_two_components(tmp_path):
    result, stress, trajectories = atlas_inputs(components=2)
    for t, opt in zip(trajectories, ["adam", "sgd", "adam"]):
        t["value"] = opt
    paths = atlas_plot.draw_atlas(result.coords, result.eigenvalues, stress, trajectories, tmp_path, "optimizer")
    assert paths[0].read_bytes()[:8] == PNG_MAGIC
    assert all(row[5] == "" for row in table(paths[1])[1:])  # no third component
    colours, legend, mapping = atlas_plot._colours(trajectories, "optimizer")
    assert mapping is None and list(legend) == ["adam", "sgd"] and colours[0] == colours[2] != colours[1]
    assert "top 2 components explain" in atlas_plot.atlas_caption(stress)


def test_atlas_caption_and_bad_trajectories(tmp_path):
    assert atlas_plot.atlas_caption([0.5, 0.8, 0.941, 0.99]).endswith("top 3 components explain 94.1% of the stress")
    result, stress, trajectories = atlas_inputs()
    trajectories[0]["rows"] = [0, 1, 2, 99]
    with pytest.raises(ValueError, match="'a': rows must index the 12 points"):
        atlas_plot.draw_atlas(result.coords, result.eigenvalues, stress, trajectories, tmp_path)
    assert not (tmp_path / "atlas.png").exists()


def test_benchmark_runs_on_tiny_data():
    args = ["--runs", "2", "--epochs", "3", "--samples", "8", "--classes", "3", "--repeats", "1", "--naive", "4"]
    done = subprocess.run([sys.executable, "benchmarks/atlas.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| bhattacharyya (blocked, chunked) | 6 |" in done.stdout and "extrapolated" in done.stdout
