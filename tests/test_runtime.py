"""OpenMP waits passively unless the user chose otherwise, set before torch loads."""
from __future__ import annotations

import subprocess
import sys

import pytest

from dlcli.runtime import calm_openmp


def test_passive_when_nothing_is_set(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    env: dict = {}
    assert calm_openmp(env) is True
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.parametrize("key, value", [("OMP_WAIT_POLICY", "ACTIVE"), ("GOMP_SPINCOUNT", "300000"), ("KMP_BLOCKTIME", "0")])
def test_a_users_choice_is_kept(monkeypatch, key, value):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    env = {key: value}
    assert calm_openmp(env) is False
    assert env == {key: value}


def test_too_late_once_torch_is_loaded(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", object())
    env: dict = {}
    assert calm_openmp(env) is False and env == {}


def test_the_cli_sets_it_before_torch_loads():
    # the entry point runs it first; a command that imports torch then sees the policy
    code = ("import os, sys; from dlcli.cli.app import main; sys.argv = ['dlcli', 'ls', 'tasks', '--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "import torch; print('policy', os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "policy PASSIVE" in done.stdout
