"""OpenMP waits passively when other processes are busy as dlcli starts, and only then; a user's
own setting always wins. The decision is made just before torch loads."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from dlcli import runtime

WAIT_KEYS = runtime.OPENMP_WAIT_SETTINGS


@pytest.mark.parametrize("others, policy", [(None, None), (0.0, None), (0.3, None), (0.5, "PASSIVE"), (1.7, "PASSIVE")])
def test_passive_only_beside_busy_processes(others, policy):
    env: dict = {}
    assert runtime.choose_wait_policy(others, env) == policy
    assert env == ({"OMP_WAIT_POLICY": "PASSIVE"} if policy else {})


@pytest.mark.parametrize("key, value", [("OMP_WAIT_POLICY", "ACTIVE"), ("GOMP_SPINCOUNT", "300000"), ("KMP_BLOCKTIME", "0")])
def test_a_users_choice_is_kept(monkeypatch, key, value):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    env = {key: value}
    assert runtime.watch_for_torch(env) is False
    assert env == {key: value} and f"{key}={value}" in runtime.decision["omp_wait_policy"]


def test_too_late_once_torch_is_loaded(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", object())
    env: dict = {}
    assert runtime.watch_for_torch(env) is False and env == {}


def test_the_finder_decides_at_the_torch_import_and_steps_aside(monkeypatch):
    monkeypatch.setattr(runtime, "busy_seconds", iter([10.0, 10.0 + 1.2 * runtime.MIN_WINDOW + 0.01]).__next__)
    monkeypatch.setattr(runtime, "own_seconds", lambda: 0.0)
    snapshot = runtime.Snapshot()
    env: dict = {}
    finder = runtime._BeforeTorch(snapshot, env)
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    assert finder.find_spec("numpy") is None and finder in sys.meta_path and env == {}
    assert finder.find_spec("torch") is None
    assert finder not in sys.meta_path and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert runtime.decision["others_cores"] > 1.0


def doctor(env: dict) -> dict:
    done = subprocess.run([sys.executable, "-m", "dlcli", "doctor", "--json"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)["openmp"]


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs /proc/stat")
def test_beside_busy_processes_the_cli_waits_passively():
    env = {k: v for k, v in os.environ.items() if k not in WAIT_KEYS}
    spin = "import time\nend = time.time() + 60\nwhile time.time() < end: pass\n"
    neighbours = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]
    try:
        time.sleep(0.3)
        seen = doctor(env)
    finally:
        for p in neighbours:
            p.kill()
            p.wait()
    assert seen["omp_wait_policy"] == "PASSIVE" and seen["others_cores"] >= runtime.BUSY_CORES


def test_a_users_setting_reaches_doctor():
    env = {**{k: v for k, v in os.environ.items() if k not in WAIT_KEYS}, "OMP_WAIT_POLICY": "ACTIVE"}
    assert doctor(env)["omp_wait_policy"] == "OMP_WAIT_POLICY=ACTIVE (the user's)"
