"""Training states written before tasks had roles (format 1: one `optimizer`, one `scheduler`)
still resume, ending where an uninterrupted run ends; a state made for other roles is exit 2
naming its format."""
from __future__ import annotations

import json
from pathlib import Path

from dlcli.engine import statefile
from tests.conftest import TINY


def train(cli, recipe: Path, root: Path, *args: str) -> dict:
    r = cli("train", recipe, "--runs-dir", root, "--json", *args)
    assert r.code == 0, r.err
    return json.loads(r.out)


def rewrite_state(run: Path, change) -> None:
    path = run / "checkpoints" / "last.state.safetensors"
    path.write_bytes(statefile.pack(change(statefile.unpack(path))))


def as_format_1(state: dict) -> dict:
    """What dlcli wrote before task roles: no format, task or role_steps; one optimizer and scheduler."""
    old = {k: v for k, v in state.items() if k not in ("format", "optimizers", "schedulers", "role_steps", "task")}
    old["loop"] = {k: v for k, v in state["loop"].items() if k != "improved"}
    return {**old, "optimizer": state["optimizers"]["model"], "scheduler": state["schedulers"]["model"]}


def test_a_format_1_state_resumes_bit_identical(cli, write, tmp_path):
    recipe = write("tiny.yaml", TINY)
    full = train(cli, recipe, tmp_path / "full", "--set", "train.epochs=3")
    run = Path(train(cli, recipe, tmp_path / "old")["run"])
    rewrite_state(run, as_format_1)
    r = cli("train", "--resume", run, "--set", "train.epochs=3", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["weights"]["sha256"] == full["weights"]["sha256"]


def test_a_state_for_other_roles_names_its_format(cli, write, tmp_path):
    run = Path(train(cli, write("tiny.yaml", TINY), tmp_path)["run"])

    def other_roles(state):
        return {**state, "optimizers": {"generator": state["optimizers"]["model"]},
                "schedulers": {"generator": state["schedulers"]["model"]}}

    rewrite_state(run, other_roles)
    r = cli("train", "--resume", run, "--set", "train.epochs=3")
    err = " ".join(r.err.split())
    assert r.code == 2 and "state format 2" in err and "generator" in err and "the task has model" in err
    assert "Traceback" not in r.err
