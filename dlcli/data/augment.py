"""Train-time augmentations: vectorised, seeded from a torch.Generator, run on the batch's device.

An item is a bare name (`hflip`), a name with its main argument (`random_shift: 2`) or a name
with a mapping (`random_affine: {degrees: 10, scale: [0.9, 1.1]}`). `check` validates a list of
items without torch; `compose` turns it into one function fn(x, y, gen) -> (x, y) where x is a
float batch (B, ...) on any device, y labels (B,) int64 or soft targets (B, C), and gen a
torch.Generator on x's device. Every random parameter is drawn per sample from gen (never the
global RNG) without a Python loop over samples, so the same generator state gives the same
batch. Inputs are never modified in place.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Callable, ClassVar, Literal, Optional

from pydantic import Field, ValidationError, model_validator

from dlcli import grammar
from dlcli.components import Strict
from dlcli.data.base import DataInfo, augmentations
from dlcli.errors import Path, Problem
from dlcli.registry import UnknownName

AugmentFn = Callable[[Any, Any, Any], tuple[Any, Any]]  # (x, y, gen) -> (x, y), torch tensors


class AugArgs(Strict):
    """Base of every augmentation's arguments (`{cutout: {size: 4}}`); being Strict, every number
    is finite (`gaussian_noise: .inf` would pass `ge=0` and only fail in the first batch)."""


class AugmentError(ValueError):
    """Augmentation items that cannot be used; `problems` holds each one, located by key path."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))


class Augmentation:
    """A registered augmentation. Subclasses set Args, `main` (the key a bare value fills), what
    they need, and implement `make` (torch is imported only when the function runs)."""

    Args: ClassVar[type[AugArgs]] = AugArgs
    main: ClassVar[Optional[str]] = None
    needs_image: ClassVar[bool] = False
    needs_classification: ClassVar[bool] = False

    def problem(self, a: Any, info: DataInfo) -> Optional[str]:
        """Why these arguments cannot work on this data, beyond what the class needs (or None)."""
        return None

    def make(self, a: Any, info: Optional[DataInfo]) -> AugmentFn:
        raise NotImplementedError


# ------------------------------------------------------------------------------ torch helpers


def uniform(gen: Any, x: Any, lo: float, hi: float) -> Any:
    """(B,) draws of U(lo, hi), one per sample, in x's dtype and on x's device."""
    import torch

    u = torch.rand(x.shape[0], generator=gen, device=x.device)
    return (lo + (hi - lo) * u).to(x.dtype)


def per_sample(v: Any, x: Any) -> Any:
    """(B,) -> (B, 1, ..., 1) so a per-sample value broadcasts over x."""
    return v.view(-1, *([1] * (x.ndim - 1)))


def shift_batch(x: Any, dy: Any, dx: Any, pad: int, mode: str = "constant") -> Any:
    """Each image moved by whole pixels (dy[b], dx[b]), |d| <= pad; uncovered pixels per `mode`."""
    import torch
    import torch.nn.functional as F

    B, C, H, W = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode=mode)  # (B, C, H + 2p, W + 2p)
    rows = (pad - dy)[:, None] + torch.arange(H, device=x.device)  # (B, H)
    cols = (pad - dx)[:, None] + torch.arange(W, device=x.device)  # (B, W)
    b = torch.arange(B, device=x.device)[:, None, None]
    out = padded[b, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)


def affine_batch(x: Any, angle: Any, scale: Any, shear: Any, tx: Any, ty: Any) -> Any:
    """Each image rotated by angle[b] (radians), sheared, scaled and translated (fractions of
    its size) about its centre; bilinear sampling, zeros outside. All parameters are (B,)."""
    import torch
    import torch.nn.functional as F

    B, C, H, W = x.shape
    cos, sin, tan = angle.cos(), angle.sin(), shear.tan()
    # the inverse of rotate @ shear @ scale in pixel space (grid_sample maps output to input),
    # rescaled to normalised coordinates, where both axes span [-1, 1] whatever the aspect
    k = torch.stack([cos + tan * sin, (sin - tan * cos) * (H / W), -sin * (W / H), cos], 1)
    k = k.view(B, 2, 2) / scale.view(B, 1, 1)
    t = torch.stack([2 * tx, 2 * ty], 1).unsqueeze(-1)  # (B, 2, 1), fractions of size -> [-1, 1] units
    theta = torch.cat([k, -k @ t], dim=2)  # (B, 2, 3)
    grid = F.affine_grid(theta, [B, C, H, W], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


GAMMA_ROUNDS = 8  # rejection rounds drawn at once; all 8 rejected has probability below 1e-10


def log_gamma(k: float, n: int, gen: Any, device: Any) -> Any:
    """log of n Gamma(k, 1) draws (Marsaglia-Tsang, vectorised over fixed rounds), from gen."""
    import torch

    boost = k < 1  # Gamma(k) = Gamma(k + 1) * U^(1/k)
    d = (k + 1 if boost else k) - 1 / 3
    z = torch.randn(GAMMA_ROUNDS, n, generator=gen, device=device)
    u = torch.rand(GAMMA_ROUNDS, n, generator=gen, device=device).clamp_min(1e-30)
    v = (1 + z / math.sqrt(9 * d)) ** 3
    log_v = v.clamp_min(1e-30).log()
    ok = (v > 0) & (u.log() < 0.5 * z * z + d - d * v + d * log_v)
    first = ok.float().argmax(0, keepdim=True)  # the first accepted round of each draw
    out = math.log(d) + torch.where(ok.any(0), log_v.gather(0, first)[0], torch.zeros(n, device=device))
    if boost:
        out = out + torch.rand(n, generator=gen, device=device).clamp_min(1e-30).log() / k
    return out


def beta_symmetric(alpha: float, n: int, gen: Any, device: Any) -> Any:
    """n draws of Beta(alpha, alpha) as G1 / (G1 + G2), computed in log space so tiny gammas
    (small alpha) cannot underflow to 0 / 0."""
    import torch

    return torch.sigmoid(log_gamma(alpha, n, gen, device) - log_gamma(alpha, n, gen, device))


# ---------------------------------------------------------------------------- augmentations


def image_hw(info: DataInfo) -> tuple[int, int]:
    return int(info.input_shape[-2]), int(info.input_shape[-1])


class ShiftArgs(AugArgs):
    pixels: int = Field(2, ge=0, description="largest shift in pixels along each axis")


@augmentations.register("random_shift")
class RandomShift(Augmentation):
    """Shift each image by whole pixels, independently in [-pixels, pixels] per axis, zero-filled."""

    Args = ShiftArgs
    main = "pixels"
    needs_image = True

    def problem(self, a: ShiftArgs, info: DataInfo) -> Optional[str]:
        h, w = image_hw(info)
        return f"a shift of {a.pixels} pixels can move a {h}x{w} image out of view" if a.pixels >= min(h, w) else None

    def make(self, a: ShiftArgs, info: Optional[DataInfo]) -> AugmentFn:
        def random_shift(x: Any, y: Any, gen: Any) -> tuple[Any, Any]:
            import torch

            dy, dx = torch.randint(-a.pixels, a.pixels + 1, (2, x.shape[0]), generator=gen, device=x.device)
            return shift_batch(x, dy, dx, a.pixels), y

        return random_shift


class CropArgs(AugArgs):
    padding: int = Field(4, ge=0, description="pixels added on each side before cropping back to the input size")
    padding_mode: Literal["zeros", "reflect", "replicate"] = Field("zeros", description="how the added border is filled")


@augmentations.register("random_crop")
class RandomCrop(Augmentation):
    """Pad each image by `padding` pixels, then crop it back to its size at a random offset."""

    Args = CropArgs
    main = "padding"
    needs_image = True

    def problem(self, a: CropArgs, info: DataInfo) -> Optional[str]:
        h, w = image_hw(info)
        if a.padding_mode == "reflect" and a.padding >= min(h, w):
            return f"reflect padding must be smaller than the image ({h}x{w}), got {a.padding}"
        return None

    def make(self, a: CropArgs, info: Optional[DataInfo]) -> AugmentFn:
        mode = "constant" if a.padding_mode == "zeros" else a.padding_mode

        def random_crop(x: Any, y: Any, gen: Any) -> tuple[Any, Any]:
            import torch

            # a crop at offset o of the padded image is the image shifted by padding - o
            dy, dx = torch.randint(-a.padding, a.padding + 1, (2, x.shape[0]), generator=gen, device=x.device)
            return shift_batch(x, dy, dx, a.padding, mode), y

        return random_crop


class FlipArgs(AugArgs):
    p: float = Field(0.5, ge=0, le=1, description="probability of flipping each sample")


def make_flip(axis: int, p: float) -> AugmentFn:
    def flip(x: Any, y: Any, gen: Any) -> tuple[Any, Any]:
        import torch

        chosen = torch.rand(x.shape[0], generator=gen, device=x.device) < p
        return torch.where(per_sample(chosen, x), x.flip(axis), x), y

    return flip


@augmentations.register("hflip")
class HFlip(Augmentation):
    """Mirror each image left-right with probability p."""

    Args = FlipArgs
    main = "p"
    needs_image = True

    def make(self, a: FlipArgs, info: Optional[DataInfo]) -> AugmentFn:
        return make_flip(-1, a.p)


@augmentations.register("vflip")
class VFlip(Augmentation):
    """Mirror each image top-bottom with probability p."""

    Args = FlipArgs
    main = "p"
    needs_image = True

    def make(self, a: FlipArgs, info: Optional[DataInfo]) -> AugmentFn:
        return make_flip(-2, a.p)


class RotationArgs(AugArgs):
    degrees: float = Field(10.0, ge=0, le=180, description="largest rotation either way, in degrees")


@augmentations.register("random_rotation")
class RandomRotation(Augmentation):
    """Rotate each image about its centre by a uniform angle in [-degrees, degrees], zero-filled."""

    Args = RotationArgs
    main = "degrees"
    needs_image = True

    def make(self, a: RotationArgs, info: Optional[DataInfo]) -> AugmentFn:
        def random_rotation(x: Any, y: Any, gen: Any) -> tuple[Any, Any]:
            angle = uniform(gen, x, -math.radians(a.degrees), math.radians(a.degrees))
            ones, zeros = angle.new_ones(angle.shape), angle.new_zeros(angle.shape)
            return affine_batch(x, angle, ones, zeros, zeros, zeros), y

        return random_rotation


Zoom = Annotated[float, Field(gt=0)]


class AffineArgs(AugArgs):
    degrees: float = Field(0.0, ge=0, le=180, description="largest rotation either way, in degrees")
    translate: float = Field(0.0, ge=0, le=1, description="largest shift along each axis, as a fraction of the size")
    scale: tuple[Zoom, Zoom] = Field((1.0, 1.0), description="[low, high] zoom factor range, 0 < low <= high")
    shear: float = Field(0.0, ge=0, lt=90, description="largest horizontal shear either way, in degrees")

    @model_validator(mode="after")
    def _scale_range(self) -> "AffineArgs":
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be [low, high] with 0 < low <= high, got {list(self.scale)}")
        return self


@augmentations.register("random_affine")
class RandomAffine(Augmentation):
    """Rotate, translate, scale and shear each image by uniform random amounts, zero-filled."""

    Args = AffineArgs
    main = "degrees"
    needs_image = True

    def problem(self, a: AffineArgs, info: DataInfo) -> Optional[str]:
        if a.degrees == a.translate == a.shear == 0 and a.scale[0] == a.scale[1] == 1:
            return "random_affine with every argument at its default changes nothing; set degrees, translate, scale or shear"
        return None

    def make(self, a: AffineArgs, info: Optional[DataInfo]) -> AugmentFn:
        deg, shear = math.radians(a.degrees), math.radians(a.shear)

        def random_affine(x: Any, y: Any, gen: Any) -> tuple[Any, Any]:
            angle, zoom = uniform(gen, x, -deg, deg), uniform(gen, x, *a.scale)
            slant = uniform(gen, x, -shear, shear)
            tx, ty = uniform(gen, x, -a.translate, a.translate), uniform(gen, x, -a.translate, a.translate)
            return affine_batch(x, angle, zoom, slant, tx, ty), y

        return random_affine


class BrightnessArgs(AugArgs):
    delta: float = Field(0.2, ge=0, description="largest offset added to a sample, either way")


@augmentations.register("brightness")
class Brightness(Augmentation):
    """Add one uniform offset in [-delta, delta] to every value of each sample."""

    Args = BrightnessArgs
    main = "delta"

    def make(self, a: BrightnessArgs, info: Optional[DataInfo]) -> AugmentFn:
        def brightness(x: Any, y: Any, gen: Any) -> tuple[Any, Any]:
            return x + per_sample(uniform(gen, x, -a.delta, a.delta), x), y

        return brightness


class ContrastArgs(AugArgs):
    factor: float = Field(0.2, ge=0, le=1, description="contrast is scaled by a factor in [1 - factor, 1 + factor]")


@augmentations.register("contrast")
class Contrast(Augmentation):
    """Scale each sample about its own mean by a uniform factor in [1 - factor, 1 + factor]."""

    Args = ContrastArgs
    main = "factor"

    def make(self, a: ContrastArgs, info: Optional[DataInfo]) -> AugmentFn:
        def contrast(x: Any, y: Any, gen: Any) -> tuple[Any, Any]:
            mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
            f = per_sample(uniform(gen, x, 1 - a.factor, 1 + a.factor), x)
            return (x - mean) * f + mean, y

        return contrast


class NoiseArgs(AugArgs):
    std: float = Field(0.05, ge=0, description="standard deviation of the added noise")


@augmentations.register("gaussian_noise")
class GaussianNoise(Augmentation):
    """Add independent Gaussian noise N(0, std^2) to every value."""

    Args = NoiseArgs
    main = "std"

    def make(self, a: NoiseArgs, info: Optional[DataInfo]) -> AugmentFn:
        def gaussian_noise(x: Any, y: Any, gen: Any) -> tuple[Any, Any]:
            import torch

            return x + a.std * torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype), y

        return gaussian_noise


class CutoutArgs(AugArgs):
    size: int = Field(8, ge=1, description="side of the zeroed square, in pixels")


@augmentations.register("cutout")
class Cutout(Augmentation):
    """Zero a size x size square at a uniform random centre in each image (clipped at the border)."""

    Args = CutoutArgs
    main = "size"
    needs_image = True

    def problem(self, a: CutoutArgs, info: DataInfo) -> Optional[str]:
        h, w = image_hw(info)
        return f"a cutout of size {a.size} can cover the whole {h}x{w} image" if a.size >= max(h, w) else None

    def make(self, a: CutoutArgs, info: Optional[DataInfo]) -> AugmentFn:
        def cutout(x: Any, y: Any, gen: Any) -> tuple[Any, Any]:
            import torch

            B, _, H, W = x.shape
            top = torch.randint(0, H, (B, 1), generator=gen, device=x.device) - a.size // 2
            left = torch.randint(0, W, (B, 1), generator=gen, device=x.device) - a.size // 2
            r, c = torch.arange(H, device=x.device), torch.arange(W, device=x.device)
            in_rows, in_cols = (r >= top) & (r < top + a.size), (c >= left) & (c < left + a.size)  # (B, H), (B, W)
            square = in_rows[:, None, :, None] & in_cols[:, None, None, :]  # (B, 1, H, W)
            return x.masked_fill(square, 0), y

        return cutout


class MixupArgs(AugArgs):
    alpha: float = Field(0.2, gt=0, description="Beta(alpha, alpha) concentration; small alpha mixes little")


@augmentations.register("mixup")
class Mixup(Augmentation):
    """Blend each sample and its one-hot label with another sample of the batch, weight ~ Beta(alpha, alpha)."""

    Args = MixupArgs
    main = "alpha"
    needs_classification = True

    def make(self, a: MixupArgs, info: Optional[DataInfo]) -> AugmentFn:
        classes = len(info.classes) if info is not None and info.classes else None

        def mixup(x: Any, y: Any, gen: Any) -> tuple[Any, Any]:
            import torch
            import torch.nn.functional as F

            lam = beta_symmetric(a.alpha, x.shape[0], gen, x.device).to(x.dtype)
            partner = torch.randperm(x.shape[0], generator=gen, device=x.device)
            soft = y.to(x.dtype) if y.ndim == 2 else F.one_hot(y.long(), classes or -1).to(x.dtype)
            mix_x, mix_y = per_sample(lam, x), lam[:, None]
            return mix_x * x + (1 - mix_x) * x[partner], mix_y * soft + (1 - mix_y) * soft[partner]

        return mixup


# ------------------------------------------------------------------------- parsing, checking


def parse_item(item: Any) -> tuple[str, dict, bool]:
    """An item -> (name, raw args, filled main): `hflip`, `{random_shift: 2}`, `{cutout: {size: 4}}`."""
    return grammar.parse_item(item, augmentations, "augmentation")


def shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def applicability(name: str, aug: Augmentation, a: Any, info: Optional[DataInfo]) -> Optional[str]:
    """Why this augmentation cannot run on this data, or None (always None without info)."""
    if info is None:
        return None
    if aug.needs_image and (info.layout != "image" or len(info.input_shape) != 3):
        return f"{name} needs image data (C, H, W) but the data is {shape_text(tuple(info.input_shape))}"
    if aug.needs_classification and (info.labels != "classes" or not info.classes):
        has = "no labels" if info.labels is None else "real-valued targets, not class labels"
        return f"{name} mixes class labels, so it needs data with class labels, but the data has {has}"
    return aug.problem(a, info)


def plan_item(item: Any, info: Optional[DataInfo], path: Path) -> tuple[Optional[tuple], list[Problem]]:
    from dlcli.recipe.problems import from_validation_error

    try:
        name, raw, bare = parse_item(item)
    except UnknownName as e:
        return None, [Problem(path + ((e.name,) if isinstance(item, dict) else ()), e.message, e.suggestion)]
    except ValueError as e:
        return None, [Problem(path, str(e))]
    aug, at = augmentations.get(name)(), path + ((name,) if isinstance(item, dict) else ())
    try:
        args = aug.Args(**raw)
    except ValidationError as e:
        found = from_validation_error(e, at, aug.Args)
        if bare:  # the user wrote `name: value`: point at the value, not at a key they never wrote
            found = [Problem(at, f"{aug.main}: {p.message}", p.suggestion) for p in found]
        return None, found
    why = applicability(name, aug, args, info)
    return (aug, args), ([Problem(at, why)] if why else [])


def plan(items: Any, info: Optional[DataInfo], path: Path = ()) -> tuple[list[tuple], list[Problem]]:
    """Parse and validate every item: ([(augmentation, args)], problems), all problems at once."""
    if items is None:
        return [], []
    if not isinstance(items, list):
        return [], [Problem(path, f"expected a list of augmentations, got {type(items).__name__}")]
    steps, problems = [], []
    for i, item in enumerate(items):
        step, found = plan_item(item, info, path + (i,))
        problems += found
        if step is not None:
            steps.append(step)
    return steps, problems


def check(items: Any, info: Optional[DataInfo]) -> list[tuple[Path, str, Optional[str]]]:
    """Every problem with a list of augmentation items, without importing torch, as
    (path suffix, message, suggestion): the suffix is (index,) [+ (name, key...)] under the
    augment list, and the suggestion the nearest valid name or None."""
    return [(p.path, p.message, p.suggestion) for p in plan(items, info)[1]]


def compose(items: Any, info: Optional[DataInfo]) -> AugmentFn:
    """One function fn(x, y, gen) -> (x, y) applying the items in order; AugmentError if any is invalid."""
    steps, problems = plan(items, info)
    if problems:
        raise AugmentError(problems)
    fns = [aug.make(args, info) for aug, args in steps]

    def augment(x: Any, y: Any, gen: Any) -> tuple[Any, Any]:
        for fn in fns:
            x, y = fn(x, y, gen)
        return x, y

    return augment
