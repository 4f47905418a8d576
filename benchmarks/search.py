"""`dlcli tune` on the shipped search: what pruning saves, what each storage costs, what workers buy.

1. Pruning. recipes/digits-cnn-tune.yaml (TPE, 8 epochs a trial) run twice in-process with one
   worker and the recipe's seed, `search.pruner=median` and `search.pruner=none`, --trials each:
   total epochs trained, trials complete/pruned, best val.accuracy and wall time. Target: the
   median pruner trains at most half the epochs of `none` for a best within 0.5 points.
2. Storage. `study.optimize` of a trial that does to the storage what a dlcli trial does (3
   suggested params, 2 user attrs, 8 intermediate values with a pruning check, a value) on
   dlcli's own `open_storage` for a journal file, SQLite and a throwaway PostgreSQL server on
   localhost (as tests/search/conftest.py starts it; skipped where the binaries are missing), and
   Optuna's in-memory storage as the zero. Rounds alternate the storages; median ms per trial.
3. Workers. digits-cnn-tune with 3 epochs and no pruner, --worker-trials trials in a fresh study
   folder, `--workers 1` (in-process) against `--workers 2` (two processes, cores / 2 torch
   threads each), alternating, median wall time and trials per minute.
Each timing also records the CPU other processes used meanwhile (from /proc/stat), in cores.

    .venv/bin/python benchmarks/search.py [--trials 30] [--storage-trials 100] [--storage-rounds 3]
        [--worker-trials 8] [--worker-rounds 2] [--only pruning,storage,workers] [--write]

--write appends the tables and the machine to benchmarks/RESULTS.md.
"""
from __future__ import annotations

from _machine import busy_seconds  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import argparse
import contextlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RECIPE = ROOT / "recipes" / "digits-cnn-tune.yaml"
PRUNERS = ["median", "none"]
STORAGES = ["in-memory", "journal", "sqlite", "postgresql"]
HEADING = "## Search (benchmarks/search.py)"
TARGET_EPOCH_RATIO, TARGET_POINTS = 0.5, 0.5


# --- timing with the machine's other load measured ------------------------------------------------

def own_seconds() -> float:
    t = os.times()  # this process and its joined children (the worker processes)
    return t.user + t.system + t.children_user + t.children_system


@contextlib.contextmanager
def timed() -> Iterator[dict]:
    """{"seconds": wall time, "foreign": cores other processes used meanwhile}, filled on exit."""
    out: dict = {}
    busy, own, wall = busy_seconds(), own_seconds(), time.perf_counter()
    yield out
    out["seconds"] = time.perf_counter() - wall
    out["foreign"] = max(0.0, busy_seconds() - busy - (own_seconds() - own)) / out["seconds"]


# --- 1 and 3: real studies through dlcli's own entry points ---------------------------------------

def run_study(overrides: list[str], trials: int, workers: int) -> dict:
    """One `dlcli tune RECIPE --set ... --trials N --workers W` in a fresh study folder."""
    from dlcli.search.leaderboard import summarise
    from dlcli.search.run import execute
    from dlcli.workflows.tune import make_plan

    with tempfile.TemporaryDirectory() as studies, timed() as t:
        plan = make_plan(RECIPE, overrides, trials, workers, None, None, Path(studies))
        summary = summarise(execute(plan, lambda _study: None), plan)
    best = summary["best"][0]["values"][0] if summary["best"] else float("nan")
    return {"epochs": summary["epochs_trained"], "counts": summary["counts"], "best": best,
            "best_trial": summary["best"][0]["trial"] if summary["best"] else None, "seed": plan.seed} | t


def pruning(trials: int) -> dict[str, dict]:
    got = {}
    for name in PRUNERS:
        got[name] = run_study([f"search.pruner={name}"], trials, 1)
        print(f"  pruner={name}: {got[name]['epochs']} epochs, best {got[name]['best']:.4f}, "
              f"{got[name]['seconds']:.0f} s", file=sys.stderr)
    return got


def pruning_table(got: dict[str, dict], trials: int) -> str:
    lines = ["| pruner | trials | complete | pruned | failed | epochs trained | best val.accuracy (trial) "
             "| wall s | other processes' CPU (cores) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in got.items():
        c = r["counts"]
        lines.append(f"| {name} | {trials} | {c['complete']} | {c['pruned']} | {c['fail']} | {r['epochs']} "
                     f"| {r['best']:.4f} ({r['best_trial']}) | {r['seconds']:.1f} | {r['foreign']:.2f} |")
    med, none = got["median"], got["none"]
    ratio, points = med["epochs"] / none["epochs"], (med["best"] - none["best"]) * 100
    met = ratio <= TARGET_EPOCH_RATIO and points >= -TARGET_POINTS
    lines.append(f"\nEpochs median/none: {ratio:.3f}x (target <= {TARGET_EPOCH_RATIO}); best val.accuracy "
                 f"median - none: {points:+.2f} points (target >= -{TARGET_POINTS}); wall time median/none: "
                 f"{med['seconds'] / none['seconds']:.3f}x. Target {'met' if met else 'NOT met'}.")
    return "\n".join(lines)


def workers(trials: int, rounds: int) -> dict[int, list[dict]]:
    """Alternate --workers 1 and --workers 2 on the same small study, each in a fresh folder."""
    got: dict[int, list[dict]] = {1: [], 2: []}
    for _ in range(rounds):
        for n in got:
            got[n].append(run_study(["train.epochs=3", "search.pruner=none"], trials, n))
            print(f"  workers={n}: {got[n][-1]['seconds']:.1f} s", file=sys.stderr)
    return got


def workers_table(got: dict[int, list[dict]], trials: int) -> str:
    lines = ["| workers | torch threads each | trials | epochs trained | wall s (median) | trials/min "
             "| speed-up | other processes' CPU (cores, max) |", "|---|---|---|---|---|---|---|---|"]
    base = statistics.median(r["seconds"] for r in got[1])
    for n, runs in got.items():
        wall = statistics.median(r["seconds"] for r in runs)
        threads = max(1, (os.cpu_count() or 1) // n) if n > 1 else _torch_threads()
        lines.append(f"| {n} | {threads} | {trials} | {runs[0]['epochs']} | {wall:.1f} | {trials * 60 / wall:.2f} "
                     f"| {base / wall:.2f}x | {max(r['foreign'] for r in runs):.2f} |")
    return "\n".join(lines)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()  # --workers 1 trains in-process, with the process's threads


# --- 2: storage overhead --------------------------------------------------------------------------

def fake_trial(trial) -> float:
    """What run_trial does to the storage, without the training: 3 params, 2 attrs, 8 epochs reported."""
    width = trial.suggest_categorical("vars.width", [16, 32, 64])
    dropout = trial.suggest_float("vars.dropout", 0.0, 0.5)
    lr = trial.suggest_float("train.optimizer.lr", 1e-4, 1e-1, log=True)
    trial.set_user_attr("worker", "bench:0")
    trial.set_user_attr("run", f"trials/{trial.number:04d}")
    value = 0.0
    for epoch in range(1, 9):
        value = 1.0 - dropout / epoch - lr - 1.0 / width
        trial.report(value, epoch)
        trial.should_prune()
    return value


def time_storage(url: Optional[str], trials: int, name: str) -> dict:
    """ms per trial of `study.optimize(fake_trial)` on a new study; url None is the in-memory zero."""
    import optuna

    from dlcli.search.study import open_storage

    storage = open_storage(url) if url else optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0), pruner=optuna.pruners.NopPruner())
    with timed() as t:
        study.optimize(fake_trial, n_trials=trials)
    return {"ms": t["seconds"] * 1000 / trials, "foreign": t["foreign"]}


def storage_urls(tmp: Path, pg_url: Optional[str], rnd: int) -> dict[str, Optional[str]]:
    """Fresh files (and a fresh PostgreSQL database) for every round: no study grows across rounds."""
    urls = {"in-memory": None, "journal": str(tmp / f"r{rnd}.journal"), "sqlite": f"sqlite:///{tmp}/r{rnd}.db"}
    if pg_url:
        urls["postgresql"] = new_database(pg_url, f"bench_r{rnd}")
    return urls


def storage(trials: int, rounds: int) -> tuple[dict[str, list[dict]], str]:
    """Round 0 (a fifth of the trials) only warms each storage up: imports, schema, connections."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    got: dict[str, list[dict]] = {}
    with postgres_server() as (pg_url, pg_note), tempfile.TemporaryDirectory() as tmp:
        for rnd in range(rounds + 1):
            urls = list(storage_urls(Path(tmp), pg_url, rnd).items())
            for name, url in urls if rnd % 2 == 0 else urls[::-1]:  # alternate the order too
                r = time_storage(url, trials if rnd else max(1, trials // 5), f"bench-{rnd}")
                if rnd:
                    got.setdefault(name, []).append(r)
                    print(f"  {name} round {rnd}: {r['ms']:.2f} ms/trial", file=sys.stderr)
    return got, pg_note


def storage_table(got: dict[str, list[dict]]) -> str:
    zero = statistics.median(r["ms"] for r in got["in-memory"])
    lines = ["| storage | ms per trial (median) | overhead over in-memory, ms | min-max ms "
             "| other processes' CPU (cores, max) |", "|---|---|---|---|---|"]
    for name in sorted(got, key=STORAGES.index):
        runs, ms = got[name], [r["ms"] for r in got[name]]
        med = statistics.median(ms)
        lines.append(f"| {name} | {med:.2f} | {med - zero:+.2f} | {min(ms):.2f}-{max(ms):.2f} "
                     f"| {max(r['foreign'] for r in runs):.2f} |")
    return "\n".join(lines)


# --- a throwaway PostgreSQL server, started the way tests/search/conftest.py does -------------------

@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[Optional[str], str]]:
    """(URL of the server's `postgres` database, a note) or (None, why not) where it cannot start."""
    try:
        from tests.search import conftest as pg
    except ImportError as e:  # pytest missing (a non-test install)
        yield None, f"postgresql skipped: cannot import tests/search/conftest.py ({e})"
        return
    bindir = pg.find_pg_bindir()
    if bindir is None:
        yield None, f"postgresql skipped: {pg.SKIP_REASON}"
        return
    account, root = pg._server_account(), Path(tempfile.mkdtemp(prefix="dlcli-bench-pg-"))
    if account is not None:
        shutil.chown(root, user=account)
    port = pg._free_port()
    try:
        pg._start_server(bindir, root, account, port)
        yield f"postgresql+psycopg2://{pg.DB_USER}@127.0.0.1:{port}/postgres", \
            f"postgresql: {bindir.parent.name} server on localhost, fsync off (throwaway)"
    finally:
        pg._stop_server(bindir, root, account)
        shutil.rmtree(root, ignore_errors=True)


def new_database(server_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    from tests.search.conftest import _admin_sql

    url = make_url(server_url)
    _admin_sql(url, "CREATE DATABASE {}", name)
    return url.set(database=name).render_as_string(hide_password=False)


# --- the report -------------------------------------------------------------------------------------

def machine() -> str:
    import optuna
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")]
        cpu = f"{names[0]} ({len(names)} cores)" if names else cpu
    return (f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}, optuna {optuna.__version__}, "
            f"Python {platform.python_version()}, {platform.system()}")


def write_results(sections: list[str], mach: str) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    intro = ("" if HEADING in path.read_text() else
             f"\n{HEADING}\n\nThe shipped search (recipes/digits-cnn-tune.yaml: TPE, 8 epochs a trial) through "
             "dlcli's own `make_plan` / `execute` / `summarise`: pruning against none with the same seed, the cost "
             "of each Optuna storage per trial, and one worker against two on the same machine.\n")
    with open(path, "a") as f:
        f.write(f"{intro}\n### Search ({time.strftime('%Y-%m-%d')})\n\nMachine: {mach}.\n\n" + "\n\n".join(sections) + "\n")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=30, help="trials per pruner run")
    p.add_argument("--storage-trials", type=int, default=100)
    p.add_argument("--storage-rounds", type=int, default=3)
    p.add_argument("--worker-trials", type=int, default=8)
    p.add_argument("--worker-rounds", type=int, default=2)
    p.add_argument("--only", default="pruning,storage,workers", help="comma-separated parts to run")
    p.add_argument("--write", action="store_true")
    return p.parse_args()


def main() -> None:
    a = parse()
    parts, sections = a.only.split(","), []
    if "pruning" in parts:
        got = pruning(a.trials)
        sections.append(f"**Pruning** (one worker, seed {got['median']['seed']}, {a.trials} trials each):\n\n"
                        f"{pruning_table(got, a.trials)}")
    if "storage" in parts:
        got_s, note = storage(a.storage_trials, a.storage_rounds)
        sections.append(f"**Storage** ({a.storage_trials} trials of a no-training trial: 3 params, 2 user attrs, "
                        f"8 reports + pruning checks; median of {a.storage_rounds} alternating rounds after a warm-up round; "
                        f"{note}; the server's own CPU counts as other processes'):\n\n"
                        f"{storage_table(got_s)}")
    if "workers" in parts:
        got_w = workers(a.worker_trials, a.worker_rounds)
        sections.append(f"**Workers** (train.epochs=3, pruner none, median of {a.worker_rounds} alternating rounds, "
                        f"{os.cpu_count()} cores):\n\n{workers_table(got_w, a.worker_trials)}")
    mach = machine()
    print("\n\n".join(sections))
    print(f"machine: {mach}")
    if a.write:
        write_results(sections, mach)


if __name__ == "__main__":
    main()
