"""Linear regions: exact polygons against grid sampling, side by side, on a 3x64 ReLU MLP.

The MLP 2 -> 64 -> 64 -> 64 -> 3 (dlcli's own build, seed 0), at random init and after a short
fit (Adam on a 3-class spiral), on the input plane over the spiral's range. For each: best of
--repeats seconds of `exact_regions` and of `grid_regions` at each resolution, with the counts
(the grid can only miss regions) and the cores other processes used meanwhile. Prints markdown
rows; paste them into benchmarks/RESULTS.md by hand. Target: exact in a few seconds at most.

    .venv/bin/python benchmarks/regions.py [--repeats 3] [--fit-steps 300] [--resolutions 256,1024]
"""
from __future__ import annotations

from _machine import busy_seconds  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from _training import machine  # noqa: E402
import argparse
import time

import torch

from dlcli.analysis.regions import exact_regions, grid_regions, plane_for
from dlcli.nn.model import build_model, plan_model

SPEC = [{"linear": 64}, "relu", {"linear": 64}, "relu", {"linear": 64}, "relu", {"linear": "auto"}]


def spiral(n: int = 600, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three interleaved arms with a little noise: (n, 2) points and their arm."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=gen) * 3
    arm = torch.randint(0, 3, (n,), generator=gen)
    angle = 2 * t + arm * (2 * torch.pi / 3)
    x = torch.stack([t * angle.cos(), t * angle.sin()], 1) + 0.1 * torch.randn(n, 2, generator=gen)
    return x, arm


def mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(plan_model(SPEC, (2,), 3)).eval()


def fitted(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> torch.nn.Module:
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


def best_of(fn, repeats: int) -> tuple:
    """(result, best seconds, cores other processes used over all repeats)."""
    seconds, busy, own, wall = [], busy_seconds(), time.process_time(), time.perf_counter()
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    foreign = max(busy_seconds() - busy - (time.process_time() - own), 0.0) / (time.perf_counter() - wall)
    return result, min(seconds), foreign


def row(name: str, net, plane, resolutions: list[int], repeats: int) -> str:
    exact, exact_s, foreign = best_of(lambda: exact_regions(net, plane).count, repeats)
    cells = [name, str(exact), f"{exact_s:.3f}"]
    for resolution in resolutions:
        count, grid_s, other = best_of(lambda: grid_regions(net, plane, resolution), repeats)
        cells += [str(count), f"{grid_s:.3f}"]
        foreign = max(foreign, other)
    return "| " + " | ".join(cells + [f"{foreign:.2f}"]) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--fit-steps", type=int, default=300)
    p.add_argument("--resolutions", default="256,1024")
    a = p.parse_args()
    resolutions = [int(r) for r in a.resolutions.split(",")]
    x, y = spiral()
    plane = plane_for(x, "input")
    grid_heads = "".join(f" grid {r}x{r} patterns | grid s |" for r in resolutions)
    print(f"machine: {machine('cpu')}; best of {a.repeats}; plane: input axes over the spiral, box "
          f"{tuple(round(b, 2) for b in plane.box)}")
    print(f"| 3x64 ReLU MLP | exact regions | exact s |{grid_heads} other processes' CPU (cores, max) |")
    print("|---|---|---|" + "---|---|" * len(resolutions) + "---|")
    print(row("random init (seed 0)", mlp(0), plane, resolutions, a.repeats))
    print(row(f"after {a.fit_steps} Adam steps on the spiral", fitted(mlp(0), x, y, a.fit_steps), plane, resolutions,
              a.repeats))


if __name__ == "__main__":
    main()
