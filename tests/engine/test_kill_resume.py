"""SIGKILL at any moment, then `dlcli train --resume RUN`: the same training, bit for bit, on the CPU.

Every kill is a real SIGKILL of a real `python -m dlcli train` process. The moments inside a
checkpoint write, or right after a metrics line, are chosen without touching dlcli: a
sitecustomize.py on the child's PYTHONPATH wraps dlcli.fsio / dlcli.engine.rundir as they are
imported and kills the process at the chosen step (DLCLI_TEST_KILL=MODE:K); dlcli's own code runs
up to that step. The other moments are chosen from outside, by watching the run directory.

Each process costs seconds (importing torch), so the module's scenarios run side by side on a
small pool, started once for the module; each test waits for its own scenario and asserts on it.
A scenario: the legs that get killed, then one resume with nothing injected.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

EPOCHS = 6
# Not trivial: dropout (torch's global RNG), noise and shuffling (the run's generator), momentum,
# an epoch-level cosine schedule, and a val.loss that improves at epochs 1, 2 and 4 only, so the
# best checkpoint is not simply the last epoch and a resume must remember which epoch was best.
RECIPE = f"""
name: kill-resume
seed: 0
data:
  source: digits
  augment:
    - gaussian_noise: 0.1
model: [flatten, {{linear: 32}}, relu, {{dropout: 0.2}}, {{linear: auto}}]
train:
  epochs: {EPOCHS}
  batch_size: 64
  optimizer: {{name: sgd, lr: 0.3, momentum: 0.9}}
  schedule: cosine
"""
STATE = "last.state.safetensors"
TIMING = ("seconds", "samples_per_s")  # the only fields of a metrics line allowed to differ
PROCESS_TIMEOUT = 240

SITECUSTOMIZE = '''
"""Fault injection for the dlcli processes of tests/engine/test_kill_resume.py: DLCLI_TEST_KILL=MODE:K.

rename:K   the K-th write of last.state.safetensors in this process: its temp file complete
           (written, flushed, fsynced), SIGKILL just before os.replace
torn:K     the K-th write of last.state.safetensors: SIGKILL with half its bytes in the temp file
rename-best:K, torn-best:K   the same for the K-th write of best.safetensors
metrics:K  right after metrics.jsonl gets the line of epoch K, before that epoch's state is saved
Without the variable nothing is changed.
"""
import os
import signal
import sys
from importlib.machinery import PathFinder

MODE, _, _K = os.environ.get("DLCLI_TEST_KILL", "").partition(":")
K = int(_K or 0)
TARGET = "best.safetensors" if MODE.endswith("-best") else "last.state.safetensors"
MODE = MODE.split("-")[0]


def die():
    os.kill(os.getpid(), signal.SIGKILL)


class TornFile:
    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.f.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        os.fsync(self.f.fileno())
        die()


class DyingOs:
    """dlcli.fsio's `os` during the chosen write: the real module, with death at the chosen step."""

    def __getattr__(self, name):
        return getattr(os, name)

    def fdopen(self, *args, **kwargs):
        f = os.fdopen(*args, **kwargs)
        return TornFile(f) if MODE == "torn" else f

    def replace(self, src, dst):
        if MODE == "rename":
            die()
        return os.replace(src, dst)


def patch_fsio(fsio):
    real, calls = fsio.write_atomic, [0]

    def write_atomic(path, text):
        if os.path.basename(str(path)) == TARGET:
            calls[0] += 1
            if calls[0] == K:
                fsio.os = DyingOs()  # the process dies inside this very call
        return real(path, text)

    fsio.write_atomic = write_atomic


def patch_rundir(rundir):
    real = rundir.append_metrics

    def append_metrics(run, record):
        real(run, record)
        if record.get("epoch") == K:
            die()

    rundir.append_metrics = append_metrics


class PatchOnImport:
    def __init__(self, name, patch):
        self.name, self.patch = name, patch

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        spec = PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            self.patch(module)

        spec.loader.exec_module = exec_module
        return spec


PATCHES = {"rename": ("dlcli.fsio", patch_fsio), "torn": ("dlcli.fsio", patch_fsio),
           "metrics": ("dlcli.engine.rundir", patch_rundir)}
if MODE:
    if MODE not in PATCHES or K < 1:
        sys.exit("bad DLCLI_TEST_KILL=" + os.environ["DLCLI_TEST_KILL"])
    sys.meta_path.insert(0, PatchOnImport(*PATCHES[MODE]))
'''


# ---------------------------------------------------------------------------------------------
# reading a run directory


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def safetensors_header(path: Path) -> tuple[dict, bool]:
    """(header, complete): the file's JSON header and whether the file holds all the bytes it announces."""
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    return header, len(blob) == 8 + n + end


def state_epoch(path: Path) -> int:
    """The epoch a training state file was saved at."""
    header, complete = safetensors_header(path)
    assert complete, f"{path} is incomplete"
    return json.loads(header["__metadata__"]["dlcli.state"])["epoch"]


def metrics_lines(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x] if path.exists() else []


def line_count(run: Path) -> int:
    try:
        return (run / "metrics.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# ---------------------------------------------------------------------------------------------
# running scenarios


@dataclass
class Leg:
    """One `dlcli train` process that gets SIGKILLed: from inside (`inject`) or from outside."""

    inject: Optional[str] = None  # DLCLI_TEST_KILL for the child
    at_lines: Optional[int] = None  # kill once metrics.jsonl has this many lines (and a state exists)
    random_at: Optional[float] = None  # kill at this fraction (0..1) of 6 x epoch 1's time after the first state appears


@dataclass
class Outcome:
    """What one process did and left behind."""

    rc: int
    err: str
    record: Optional[dict]  # run.json as printed by --json, when it exited 0
    state_epoch: Optional[int]  # epoch of checkpoints/last.state.safetensors on disk, None if missing
    temp_files: list  # [(name, size, complete)] of the checkpoints' leftover temp files
    metrics: list  # the epochs in metrics.jsonl, in order
    best_epoch: Optional[str]  # the epoch in checkpoints/best.safetensors' metadata, None if missing
    seconds: float  # wall time of the process
    run: Optional[Path] = None
    note: str = ""


@dataclass
class Scenario:
    legs: list
    final: Optional[Outcome] = None
    killed: list = field(default_factory=list)  # an Outcome per leg

    def info(self) -> str:
        return " | ".join(f"leg {i}: rc={o.rc} state={o.state_epoch} best={o.best_epoch} metrics={o.metrics} {o.note}"
                          f"{' ' + o.err.strip()[-300:] if o.rc not in (0, -signal.SIGKILL) else ''}"
                          for i, o in enumerate(self.killed))


class Runner:
    def __init__(self, root: Path):
        self.root = root
        self.inject = root / "inject"
        self.inject.mkdir(parents=True)
        (self.inject / "sitecustomize.py").write_text(SITECUSTOMIZE)
        self.recipe = root / "recipe.yaml"
        self.recipe.write_text(textwrap.dedent(RECIPE).lstrip())
        self.live: set = set()
        self.lock = threading.Lock()
        self.closed = False

    def spawn(self, where: Path, args: list, inject: Optional[str], name: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k != "DLCLI_TEST_KILL"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.inject), env.get("PYTHONPATH")]))
        if inject:
            env["DLCLI_TEST_KILL"] = inject
        with self.lock:
            if self.closed:
                raise RuntimeError("the module is done")
            with open(where / f"{name}.out", "w") as out, open(where / f"{name}.err", "w") as err:
                p = subprocess.Popen([sys.executable, "-m", "dlcli", "train", *map(str, args), "--json"], cwd=where,
                                     env=env, stdout=out, stderr=err)
            self.live.add(p)
        p.started = time.monotonic()
        return p

    def finish(self, p: subprocess.Popen, where: Path, name: str, run: Optional[Path], note: str = "") -> Outcome:
        try:
            rc = p.wait(PROCESS_TIMEOUT)
            seconds = time.monotonic() - p.started
        except subprocess.TimeoutExpired:
            p.kill()
            raise
        finally:
            with self.lock:
                self.live.discard(p)
        out, err = (where / f"{name}.out").read_text(), (where / f"{name}.err").read_text()
        if run is None:
            run = find_run(where)
        record = json.loads(out) if rc == 0 else None
        state = run / "checkpoints" / STATE if run else None
        best = run / "checkpoints" / "best.safetensors" if run else None
        temps = sorted(run.glob("checkpoints/.*.tmp")) if run else []
        return Outcome(rc, err, record, state_epoch(state) if state and state.exists() else None,
                       [(t.name, t.stat().st_size, safetensors_header_complete(t)) for t in temps],
                       [m["epoch"] for m in metrics_lines(run)] if run else [],
                       safetensors_header(best)[0]["__metadata__"]["epoch"] if best and best.exists() else None,
                       seconds, run, note)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for p in self.live:  # only processes this module started
                if p.poll() is None:
                    p.kill()

    def reference(self) -> Outcome:
        where = self.root / "reference"
        where.mkdir()
        p = self.spawn(where, [self.recipe, "--runs-dir", where / "runs"], None, "train")
        return self.finish(p, where, "train", None)

    def scenario(self, name: str, legs: list, seed: int) -> Scenario:
        where = self.root / name
        where.mkdir()
        s, run = Scenario(legs), None
        for i, leg in enumerate(legs):
            args = [self.recipe, "--runs-dir", where / "runs"] if run is None else ["--resume", run]
            p = self.spawn(where, args, leg.inject, f"leg{i}")
            note = ""
            if leg.at_lines or leg.random_at is not None:
                note = self.kill_from_outside(p, where, leg)
            s.killed.append(self.finish(p, where, f"leg{i}", run, note))
            run = s.killed[-1].run
            assert run is not None, f"{name}: no run directory after leg {i}: {s.killed[-1].err}"
        p = self.spawn(where, ["--resume", run], None, "resume")
        s.final = self.finish(p, where, "resume", run, f"seed={seed}")
        return s

    def kill_from_outside(self, p: subprocess.Popen, where: Path, leg: Leg) -> str:
        deadline = time.monotonic() + PROCESS_TIMEOUT
        run = None
        while p.poll() is None and time.monotonic() < deadline:
            run = run or find_run(where)
            if run is not None and (run / "checkpoints" / STATE).exists():
                if leg.random_at is not None:  # scaled by this process's own epoch time: the machine's load varies
                    delay = leg.random_at * 6 * metrics_lines(run)[0]["seconds"]
                    time.sleep(delay)
                    p.send_signal(signal.SIGKILL)
                    return f"killed {delay:.3f}s after the first state appeared (DLCLI_KILL_SEED={SEED})"
                if line_count(run) >= leg.at_lines:
                    p.send_signal(signal.SIGKILL)
                    return f"killed at {line_count(run)} metrics lines"
            time.sleep(0.005)
        if p.poll() is None:
            p.kill()
            return "timed out"
        return "the run ended before the kill moment"


def safetensors_header_complete(path: Path) -> bool:
    try:
        return safetensors_header(path)[1]
    except (ValueError, UnicodeDecodeError):
        return False


def find_run(where: Path) -> Optional[Path]:
    runs = sorted((where / "runs" / "kill-resume").glob("[0-9][0-9][0-9][0-9]"))
    return runs[0] if runs else None


SEED = int(os.environ.get("DLCLI_KILL_SEED") or random.SystemRandom().randrange(2**32))
SCENARIOS = {
    # the first state write: temp file complete, killed before its rename -> no state at all
    "first-state-write": [Leg(inject="rename:1")],
    # epoch 3's state: temp file complete (written + fsynced), killed before os.replace
    # then the resumed run (from epoch 2) is killed before the rename of its first best weights
    # (epoch 4's): the best file must never be older than the state that is resumed from
    "rename-3-then-best": [Leg(inject="rename:3"), Leg(inject="rename-best:1")],
    # epoch 5's state: killed with half its bytes in the temp file; the resume starts after the best
    # epoch (4), so it must remember which value was best
    "torn-5": [Leg(inject="torn:5")],
    # from outside once metrics.jsonl has 2 lines (mid epoch 3, or epoch 2's state write); then the
    # resumed run is killed right after epoch 5's metrics line, before epoch 5's state is saved
    "lines-2-then-metrics-5": [Leg(at_lines=2), Leg(inject="metrics:5")],
    # from outside at a random moment after the first state exists: in a later epoch, a checkpoint
    # write, the final evaluation or run.json, or (now and then) after the run ended
    "random": [Leg(random_at=random.Random(SEED).random())],
}


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """name -> Future of that scenario's outcome, for every scenario a selected test of this module uses."""
    wanted = {item.callspec.params["scenario"] for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec") and "scenario" in item.callspec.params}
    runner = Runner(tmp_path_factory.mktemp("kill-resume"))
    pool = ThreadPoolExecutor(max_workers=2)  # each process is mostly single-threaded start-up
    futures: dict[str, Future] = {}
    futures["reference"] = pool.submit(runner.reference)
    for name in sorted(wanted, key=lambda n: -len(SCENARIOS[n])):  # longest chains first
        futures[name] = pool.submit(runner.scenario, name, SCENARIOS[name], SEED)
    yield futures
    runner.close()
    pool.shutdown(wait=True, cancel_futures=True)
    for name, f in futures.items():  # shown with -s: where the time goes
        if f.done() and f.exception() is None:
            r = f.result()
            legs = [] if isinstance(r, Outcome) else [*r.killed, r.final]
            print(f"{name}: " + ", ".join(f"{o.seconds:.1f}s (rc {o.rc})" for o in (legs or [r])), r.info() if legs else "")


def reference(runs) -> Outcome:
    ref = runs["reference"].result()
    assert ref.rc == 0, ref.err
    assert ref.record["epochs_completed"] == EPOCHS and ref.record["best_epoch"] == 4  # the recipe does what it says
    return ref


def assert_same_training(s: Scenario, ref: Outcome, ref_run: Path) -> None:
    """The resumed run ends where the uninterrupted one did: every epoch's metrics, the best weights, and
    the whole final training state (weights, optimizer, schedule, RNG, loop), byte for byte."""
    final, info = s.final, s.info()
    assert final.rc == 0, f"{info}\n{final.err}"
    run = Path(final.record["run"])
    got, want = metrics_lines(run), metrics_lines(ref_run)
    assert [m["epoch"] for m in got] == list(range(1, EPOCHS + 1)), info
    for g, w in zip(got, want):
        assert {k: v for k, v in g.items() if k not in TIMING} == {k: v for k, v in w.items() if k not in TIMING}, \
            f"epoch {g['epoch']} differs from the uninterrupted run; {info}"
    assert final.record["status"] == "completed" and final.record["epochs_completed"] == EPOCHS, info
    assert final.record["best_epoch"] == ref.record["best_epoch"], info
    assert final.record["weights"]["sha256"] == ref.record["weights"]["sha256"], info
    assert sha256(run / "checkpoints" / STATE) == sha256(ref_run / "checkpoints" / STATE), info
    assert final.record["metrics"] == ref.record["metrics"], info


@pytest.mark.parametrize("scenario", ["first-state-write"])
def test_kill_before_the_first_state_exists_starts_over(runs, scenario):
    """Killed while the first state is being written (epoch 1): resume starts over from epoch 1 on
    the saved split and still ends bit for bit where the uninterrupted run did."""
    ref = reference(runs)
    s = runs[scenario].result()
    killed = s.killed[0]
    assert killed.rc == -signal.SIGKILL, s.info()
    assert killed.state_epoch is None and len(killed.temp_files) == 1 and killed.temp_files[0][2], s.info()
    assert_same_training(s, ref, Path(ref.record["run"]))
    assert not list((Path(s.final.record["run"]) / "checkpoints").glob(".*.tmp"))  # cut-short writes removed


@pytest.mark.parametrize("scenario", ["rename-3-then-best", "torn-5"])
def test_kill_inside_a_checkpoint_write(runs, scenario):
    ref = reference(runs)
    s = runs[scenario].result()
    assert [o.rc for o in s.killed] == [-signal.SIGKILL] * len(s.killed), s.info()  # every kill fired
    assert_same_training(s, ref, Path(ref.record["run"]))
    # ...and fired where it was meant to: epoch k - 1's state in place, epoch k's only in a temp file
    killed, k = s.killed[0], int(scenario.split("-")[1])
    assert killed.state_epoch == k - 1 and len(killed.temp_files) == 1, s.info()
    name, size, complete = killed.temp_files[0]
    assert name.startswith(f".{STATE}."), s.info()
    if scenario.startswith("rename"):
        assert complete, s.info()
    else:
        state_size = (Path(ref.record["run"]) / "checkpoints" / STATE).stat().st_size
        assert not complete and 0 < size < 0.6 * state_size, s.info()
    if scenario.endswith("-then-best"):  # resumed from epoch 2, killed renaming epoch 4's best weights
        again = s.killed[1]
        assert again.state_epoch == 3 and again.best_epoch == "2", s.info()
        assert any(t[0].startswith(".best.safetensors.") and t[2] for t in again.temp_files), s.info()


@pytest.mark.parametrize("scenario", ["lines-2-then-metrics-5"])
def test_kill_at_a_wall_clock_moment_then_after_a_metrics_line(runs, scenario):
    ref = reference(runs)
    s = runs[scenario].result()
    assert [o.rc for o in s.killed] == [-signal.SIGKILL] * 2, s.info()
    assert_same_training(s, ref, Path(ref.record["run"]))
    outside, after_line = s.killed
    assert outside.state_epoch is not None and outside.metrics[:2] == [1, 2], s.info()
    # metrics.jsonl was ahead of the state: epoch 5's line was there, its state was not
    assert after_line.metrics == [1, 2, 3, 4, 5] and 1 <= after_line.state_epoch <= 4, s.info()


@pytest.mark.parametrize("scenario", ["random"])
def test_kill_at_a_random_moment(runs, scenario):
    """Whenever the kill lands (even after the run completed), the resumed run ends the same."""
    ref = reference(runs)
    s = runs[scenario].result()
    killed = s.killed[0]
    assert killed.rc in (-signal.SIGKILL, 0), s.info()
    assert_same_training(s, ref, Path(ref.record["run"]))
