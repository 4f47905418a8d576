"""ONNX Runtime against PyTorch eager: inference latency of the exported model, side by side.

For digits-mlp, digits-cnn and digits-resnet: a one-epoch run is trained into a temporary runs
directory (accuracy does not matter for latency) and exported with `export_run` (its parity gate
on). Each engine is then timed in its own fresh process, with the same thread count and the same
inputs (the run's held-out samples, saved as inputs.npy): ONNX Runtime on model.onnx (the ORT
process never imports torch), PyTorch eager on the run's Pipeline (raw inputs in, as exported).
Processes alternate (ort, eager, ort, eager, ...) for --repeats rounds at batch 1 and batch 64;
each reports the median and p90 latency of one call, and the median of those is compared.
Each worker also measures the CPU other processes used while it timed (from /proc/stat); a worker
disturbed by more than --max-foreign cores is re-run, and the worst value kept is printed.

    .venv/bin/python benchmarks/inference.py [--repeats 3] [--threads N] [--seconds 1.0] [--max-foreign 0.1] [--write]

--threads defaults to os.cpu_count(). --write appends the tables and the machine to
benchmarks/RESULTS.md. Internal: `inference.py --worker ENGINE RUN BATCH THREADS` times one engine.
"""
from __future__ import annotations

from _machine import busy_seconds  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np  # torch is imported lazily: the ONNX Runtime worker must never load it

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RECIPES = ["digits-mlp", "digits-cnn", "digits-resnet"]
BATCHES = [1, 64]
HEADING = "## Inference: ONNX Runtime vs PyTorch eager (benchmarks/inference.py)"


# --- worker side: one engine, one run, one batch size per process -------------------------------

def ort_call(run: Path, x: np.ndarray, threads: int):
    """One ONNX Runtime call on `x`; ORT's defaults except the thread pools, made explicit."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(run / "model.onnx"), so, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    return lambda: session.run(None, feed)[0], contextlib.nullcontext()


def eager_call(run: Path, x: np.ndarray, threads: int):
    """One PyTorch eager call on `x`: the run's best weights, eval mode, inference mode."""
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    from dlcli.workflows.runs import load_run

    _, session = load_run(run)
    model, xt = session.model.to("cpu").eval(), torch.from_numpy(x)
    return lambda: model(xt), torch.inference_mode()


def time_calls(call, seconds: float, min_calls: int = 50) -> list[int]:
    """Warm up for a fifth of the budget, then time enough single calls to fill it (ns each)."""
    start, warm = time.perf_counter(), 0
    while warm < 10 or time.perf_counter() - start < seconds / 5:
        call()
        warm += 1
    calls = max(min_calls, int(seconds / ((time.perf_counter() - start) / warm)))
    times = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - t)
    return times


def worker(engine: str, run: Path, batch: int, threads: int, seconds: float) -> None:
    """Print one JSON line: median and p90 ms per call, the calls timed, an output checksum, and the
    CPU (in cores) that other processes used meanwhile, which would distort the timings."""
    x = np.ascontiguousarray(np.load(run / "inputs.npy")[:batch])
    call, mode = (ort_call if engine == "ort" else eager_call)(run, x, threads)
    with mode:
        busy, own, wall = busy_seconds(), time.process_time(), time.perf_counter()
        times = np.asarray(time_calls(call, seconds)) / 1e6
        own, wall = time.process_time() - own, time.perf_counter() - wall
        foreign = max(0.0, busy_seconds() - busy - own) / wall
        out_sum = float(np.asarray(call(), dtype=np.float64).sum())
    if engine == "ort":
        assert "torch" not in sys.modules, "the ONNX Runtime worker imported torch"
    print(json.dumps({"engine": engine, "batch": batch, "threads": threads, "calls": len(times),
                      "median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90)),
                      "out_sum": out_sum, "foreign_cpu": round(foreign, 3)}))


# --- parent side: train, export, spawn the workers, tabulate -------------------------------------

def train_short(name: str, runs: Path) -> Path:
    from dlcli.workflows.train import run_training
    from dlcli.report.console import TrainReporter

    recipe = ROOT / "recipes" / f"{name}.yaml"
    return Path(run_training(recipe, None, ["train.epochs=1"], runs, TrainReporter(quiet=True))["run"])


def export(run: Path) -> dict:
    """Export with the parity gate, and save the held-out samples both workers will time."""
    from dlcli.workflows.runs import load_run
    from dlcli.workflows.export import export_run

    report = export_run(run)
    np.save(run / "inputs.npy", load_run(run)[1].held_out_raw())
    return {"run": run, "recipe": run.parent.name, "export_s": report["export_seconds"], "bytes": report["bytes"]}


def prepare(runs: Path) -> tuple[list[dict], float]:
    """Every recipe trained and exported; the first export in a process pays the exporter's own
    warm-up, so it is done once on a throw-away file and reported apart (seconds returned)."""
    from dlcli.workflows.export import export_run

    trained = [train_short(name, runs) for name in RECIPES]
    cold = export_run(trained[0], out=runs / "warm-up.onnx", check=False)["export_seconds"]
    return [export(run) for run in trained], cold


def spawn(engine: str, run: Path, batch: int, threads: int, seconds: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", engine, str(run), str(batch), str(threads), "--seconds", str(seconds)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"worker failed: {' '.join(cmd)}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spawn_quiet(engine: str, run: Path, batch: int, a: argparse.Namespace) -> dict:
    """A worker's result, taken again (up to --retries times, after a pause) while other processes
    used more than --max-foreign cores during its timing: the least disturbed attempt is kept."""
    best = spawn(engine, run, batch, a.threads, a.seconds)
    for _ in range(a.retries):
        if best["foreign_cpu"] <= a.max_foreign:
            break
        time.sleep(2.0)
        again = spawn(engine, run, batch, a.threads, a.seconds)
        best = min(best, again, key=lambda r: r["foreign_cpu"])
    return best


def measure(run: Path, batch: int, a: argparse.Namespace) -> dict:
    """Alternate the engines' processes; the median of each engine's per-process medians and p90s."""
    got: dict[str, list[dict]] = {"ort": [], "eager": []}
    for _ in range(a.repeats):
        for engine in ("ort", "eager"):
            got[engine].append(spawn_quiet(engine, run, batch, a))
    ort_sum, eager_sum = got["ort"][0]["out_sum"], got["eager"][0]["out_sum"]
    assert abs(ort_sum - eager_sum) <= 1e-3 * max(1.0, abs(eager_sum)), f"outputs differ: {ort_sum} vs {eager_sum}"
    row = {k: statistics.median(r[stat] for r in got[engine]) for engine in got
           for k, stat in ((f"{engine}_ms", "median_ms"), (f"{engine}_p90", "p90_ms"))}
    results = [r for rs in got.values() for r in rs]
    return row | {"calls": min(r["calls"] for r in results), "foreign": max(r["foreign_cpu"] for r in results)}


def latency_table(rows: list[dict]) -> str:
    lines = ["| recipe | batch | eager ms | ORT ms | ORT/eager ratio | eager p90 ms | ORT p90 ms "
             "| other processes' CPU (cores, max) |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['recipe']} | {r['batch']} | {r['eager_ms']:.4f} | {r['ort_ms']:.4f} "
              f"| {r['ort_ms'] / r['eager_ms']:.3f}x | {r['eager_p90']:.4f} | {r['ort_p90']:.4f} | {r['foreign']:.2f} |"
              for r in rows]
    return "\n".join(lines)


def export_table(exports: list[dict]) -> str:
    lines = ["| recipe | export s | model.onnx bytes |", "|---|---|---|"]
    lines += [f"| {e['recipe']} | {e['export_s']:.3f} | {e['bytes']} |" for e in exports]
    return "\n".join(lines)


def machine(threads: int) -> str:
    import onnxruntime
    import torch

    from dlcli.engine.env import cpu_model

    cpu = f"{cpu_model()} ({os.cpu_count()} cores)"
    return (f"{cpu}, {threads} threads, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
            f"Python {platform.python_version()}, {platform.system()}")


def write_results(text: str, a: argparse.Namespace, mach: str) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    intro = ("" if HEADING in path.read_text() else
             f"\n{HEADING}\n\nThe exported model.onnx in ONNX Runtime (CPUExecutionProvider, graph optimisation "
             "ORT_ENABLE_ALL) against the run's PyTorch Pipeline in eager mode (eval, inference_mode), each in its "
             "own process with the same intra-op threads and one inter-op thread, on the same held-out inputs. "
             "One-epoch runs: accuracy does not change latency. Latency is one call, input ready in memory.\n")
    with open(path, "a") as f:
        f.write(f"{intro}\n### ONNX Runtime vs eager ({time.strftime('%Y-%m-%d')})\n\n"
                f"Machine: {mach}. Median of {a.repeats} alternating process pairs, each timing ~{a.seconds:g} s "
                f"of calls after warm-up.\n\n{text}\n")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seconds", type=float, default=1.0, help="timed calls per worker process, in seconds")
    p.add_argument("--max-foreign", type=float, default=0.1,
                   help="CPU (cores) other processes may use during a worker's timing before it is re-run")
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--write", action="store_true")
    p.add_argument("--worker", nargs=4, metavar=("ENGINE", "RUN", "BATCH", "THREADS"), help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> None:
    a = parse()
    if a.worker:
        engine, run, batch, threads = a.worker
        return worker(engine, Path(run), int(batch), int(threads), a.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        exports, cold = prepare(Path(tmp))
        rows = [{"recipe": e["recipe"], "batch": b} | measure(e["run"], b, a) for e in exports for b in BATCHES]
    mach = machine(a.threads)
    text = (f"{latency_table(rows)}\n\n{export_table(exports)}\n\nThe first export in a process took {cold:.3f} s "
            f"(the exporter's one-time warm-up, done on a throw-away file); the export times above come after it.")
    print(text)
    print(f"machine: {mach}; median of {a.repeats} alternating process pairs")
    if a.write:
        write_results(text, a, mach)


if __name__ == "__main__":
    main()
