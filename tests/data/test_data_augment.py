"""Augmentations: a contract over every registered name, the geometry of a few, and `check`."""
from __future__ import annotations

import math

import pytest

import dlcli.data  # noqa: F401
from dlcli.data.augment import AugmentError, affine_batch, beta_symmetric, check, compose
from dlcli.data.base import DataInfo, augmentations
from dlcli.registry import first_line

torch = pytest.importorskip("torch")

IMAGE = DataInfo((3, 16, 16), "classes", "image", classes=["a", "b", "c", "d"])
TABULAR = DataInfo((4,), "classes", "tabular", classes=["a", "b"])
VALUES = DataInfo((4,), "values", "tabular", targets=1)
EXAMPLES = {"random_affine": 15}  # its defaults change nothing


def batch(n: int = 16):
    g = torch.Generator().manual_seed(123)
    return torch.rand(n, 3, 16, 16, generator=g), torch.randint(0, 4, (n,), generator=g)


def run(fn, x, y, seed):
    return fn(x, y, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", augmentations.names())
def test_contract(name):
    assert first_line(augmentations.get(name))
    fn = compose([{name: EXAMPLES[name]} if name in EXAMPLES else name], IMAGE)
    x, y = batch()
    x0, y0 = x.clone(), y.clone()
    (a, ya), (b, yb), (c, _) = run(fn, x, y, 1), run(fn, x, y, 1), run(fn, x, y, 2)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)
    assert torch.equal(x, x0) and torch.equal(y, y0)  # inputs untouched


@pytest.mark.parametrize("name", augmentations.names())
def test_bare_value_fills_main(name):
    aug = augmentations.get(name)
    assert aug.main is not None and aug.main in aug.Args.model_fields
    value = EXAMPLES.get(name, aug.Args.model_fields[aug.main].default)
    assert check([{name: value}], IMAGE) == []


def test_random_shift_moves_pixels_at_most_p():
    x = torch.zeros(64, 1, 15, 15)
    x[:, 0, 7, 7] = 1.0
    out, _ = run(compose([{"random_shift": 3}], None), x, torch.zeros(64), 0)
    assert torch.all(out.sum(dim=(1, 2, 3)) == 1)  # zero-fill, nothing lost or blurred
    rows, cols = out[:, 0].amax(dim=2).argmax(dim=1), out[:, 0].amax(dim=1).argmax(dim=1)
    assert torch.all((rows - 7).abs() <= 3) and torch.all((cols - 7).abs() <= 3)
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 10  # shifts vary per sample


def test_random_crop_zero_padding_is_a_bounded_shift():
    x = torch.ones(32, 1, 8, 8)
    out, _ = run(compose([{"random_crop": 2}], None), x, torch.zeros(32), 0)
    empty_rows, empty_cols = (out[:, 0].sum(dim=2) == 0).sum(dim=1), (out[:, 0].sum(dim=1) == 0).sum(dim=1)
    assert empty_rows.max() <= 2 and empty_cols.max() <= 2 and empty_rows.max() > 0
    assert torch.equal(out.sum(dim=(1, 2, 3)), ((8 - empty_rows) * (8 - empty_cols)).float())


def test_flips_with_p1_equal_torch_flip_and_p0_is_identity():
    x, y = batch()
    assert torch.equal(run(compose([{"hflip": 1.0}], IMAGE), x, y, 0)[0], torch.flip(x, dims=[-1]))
    assert torch.equal(run(compose([{"vflip": 1.0}], IMAGE), x, y, 0)[0], torch.flip(x, dims=[-2]))
    assert torch.equal(run(compose([{"hflip": 0.0}], IMAGE), x, y, 0)[0], x)


def test_affine_geometry():
    x, _ = batch(2)
    ones, zeros = torch.ones(2), torch.zeros(2)
    quarter = torch.full((2,), math.pi / 2)
    assert torch.allclose(affine_batch(x, zeros, ones, zeros, zeros, zeros), x, atol=1e-5)
    rotated = affine_batch(x, quarter, ones, zeros, zeros, zeros)
    assert any(torch.allclose(rotated, torch.rot90(x, k, dims=(2, 3)), atol=1e-4) for k in (1, 3))
    moved = affine_batch(x, zeros, ones, zeros, torch.full((2,), 0.25), zeros)  # 4 of 16 pixels right
    assert torch.allclose(moved[..., 4:], x[..., :-4], atol=1e-5) and torch.all(moved[..., :4] == 0)


def test_cutout_zeroes_at_most_a_square():
    x = torch.ones(32, 1, 16, 16)
    out, _ = run(compose([{"cutout": 4}], None), x, torch.zeros(32), 0)
    zeroed = (out == 0).sum(dim=(1, 2, 3))
    assert zeroed.max() == 16 and zeroed.min() >= 4  # clipped at the border, never bigger


def test_mixup_soft_targets_sum_to_one():
    x, y = batch(32)
    out, soft = run(compose([{"mixup": 0.4}], IMAGE), x, y, 0)
    assert soft.shape == (32, 4) and soft.dtype == x.dtype
    assert torch.allclose(soft.sum(dim=1), torch.ones(32)) and soft.min() >= 0
    lam = soft.gather(1, y[:, None])[:, 0]  # own class weight >= lam (partner may share the class)
    assert torch.all(lam >= 0) and not torch.equal(out, x)
    again, soft2 = run(compose(["mixup"], IMAGE), out, soft, 1)  # soft targets mix again
    assert torch.allclose(soft2.sum(dim=1), torch.ones(32))


@pytest.mark.parametrize("alpha", [0.2, 1.0, 2.0])
def test_mixup_weights_follow_beta(alpha):
    lam = beta_symmetric(alpha, 40000, torch.Generator().manual_seed(0), "cpu")
    assert lam.min() >= 0 and lam.max() <= 1
    assert abs(lam.mean().item() - 0.5) < 0.01
    assert abs(lam.var().item() - 1 / (4 * (2 * alpha + 1))) < 0.01


def test_augmentations_run_on_sequences_when_they_do_not_need_images():
    x, y = torch.rand(8, 5, 3), torch.randint(0, 2, (8,))
    info = DataInfo((5, 3), "classes", "sequence", classes=["a", "b"])
    fn = compose(["brightness", "contrast", "gaussian_noise", "mixup"], info)
    out, soft = run(fn, x, y, 0)
    assert out.shape == x.shape and soft.shape == (8, 2)


def test_check_reports_image_augmentation_on_tabular_data():
    assert check(["hflip"], TABULAR) == [((0,), "hflip needs image data (C, H, W) but the data is (4,)", None)]


def test_check_reports_everything_with_suggestions_and_paths():
    items = ["hflp", {"random_shift": -1}, {"random_affine": {"degree": 5}}, {"mixup": 0.2}, "cutout", 3]
    problems = {path[0]: (path, message, suggestion) for path, message, suggestion in check(items, VALUES)}
    assert set(problems) == {0, 1, 2, 3, 4, 5}
    assert problems[0][0] == (0,) and problems[0][2] == "hflip" and "did you mean 'hflip'" in problems[0][1]
    assert problems[1][0] == (1, "random_shift") and problems[1][1].startswith("pixels:")
    assert problems[2][0] == (2, "random_affine", "degree") and problems[2][2] == "degrees"
    assert "needs data with class labels" in problems[3][1] and "classification" not in problems[3][1]
    assert "image data" in problems[4][1]


def test_check_reports_arguments_that_do_not_fit_the_image():
    small = DataInfo((1, 8, 8), "classes", "image", classes=["a", "b"])
    assert check([{"cutout": 8}], small) and check([{"random_shift": 8}], small)
    assert check([{"random_affine": {"scale": [1.2, 0.8]}}], small)
    assert check([{"random_crop": {"padding": 2, "padding_mode": "reflect"}}], small) == []
    assert "changes nothing" in check(["random_affine"], small)[0][1]


def test_compose_chains_and_rejects_bad_items():
    x, y = batch()
    fn = compose(["hflip", {"random_shift": 1}, {"gaussian_noise": 0.1}], IMAGE)
    assert run(fn, x, y, 0)[0].shape == x.shape
    assert torch.equal(run(compose([], IMAGE), x, y, 0)[0], x)
    with pytest.raises(AugmentError) as e:
        compose(["hflip"], TABULAR)
    assert "hflip needs image data" in str(e.value) and len(e.value.problems) == 1


def test_affine_rotation_respects_aspect_ratio():
    patch = torch.arange(16.0).view(4, 4)
    x = torch.zeros(1, 1, 8, 16)
    x[0, 0, 2:6, 6:10] = patch  # centred in a wide image
    one, zero = torch.ones(1), torch.zeros(1)
    out = affine_batch(x, torch.full((1,), math.pi / 2), one, zero, zero, zero)
    centre = out[0, 0, 2:6, 6:10]
    assert any(torch.allclose(centre, torch.rot90(patch, k), atol=1e-4) for k in (1, 3))
    assert torch.allclose(out.sum(), x.sum(), atol=1e-3)
