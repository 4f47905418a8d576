"""Data-parallel training: two CPU processes with gloo through `dlcli train --nproc-per-node 2`,
and the pieces it is made of (launch arguments, SLURM variables, sharding)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

RECIPE = """
name: ddp
data: {source: digits}
model:
  - flatten
  - linear: 32
  - batchnorm
  - relu
  - dropout: 0.1
  - linear: auto
train:
  epochs: 3
  batch_size: 64
  optimizer: {name: sgd, lr: 0.05, momentum: 0.9}
export:
  onnx: {opset: 18}
"""


# torchrun's standalone rendezvous picks a free port, closes it and binds it again: another process
# can take it in between (pytorch/pytorch#30676 and kin). Only that is retried, once.
TRANSIENT = ("Address already in use", "EADDRINUSE")


def launch(*args, runs=None):
    """`dlcli train ... --nproc-per-node 2 --json`; `runs` is emptied before a retry."""
    command = [sys.executable, "-m", "dlcli", "train", *map(str, args), "--nproc-per-node", "2", "--json"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if out.returncode != 0 and any(t in out.stderr for t in TRANSIENT):
        if runs is not None:
            shutil.rmtree(runs, ignore_errors=True)
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return out


def ddp_train(recipe, runs, *extra):
    return launch(recipe, "--runs-dir", runs, *extra, runs=runs)


def test_two_gloo_ranks_end_identical_and_two_runs_agree(write, tmp_path):
    recipe = write("ddp.yaml", RECIPE)
    records = []
    for name in ("a", "b"):
        out = ddp_train(recipe, tmp_path / name)
        assert out.returncode == 0, out.stderr[-4000:]
        records.append(json.loads(out.stdout))  # rank 0 alone prints: one JSON document
    a, b = records
    ranks = a["distributed"]["rank_weights_sha256"]
    assert a["distributed"]["world_size"] == 2 and a["distributed"]["backend"] == "gloo"
    assert len(ranks) == 2 and ranks[0] == ranks[1]
    assert ranks == b["distributed"]["rank_weights_sha256"] and a["weights"]["sha256"] == b["weights"]["sha256"]
    assert a["environment"]["world_size"] == 2 and a["metrics"]["test"]["accuracy"] > 0.5
    run = tmp_path / "a" / "ddp" / "0001"
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3]  # rank 0 alone logs
    assert sorted(p.name for p in (tmp_path / "a" / "ddp").iterdir() if p.name != "latest") == ["0001"]
    assert (run / "model.onnx").is_file() and a["export"]["parity"]["passed"]


def test_a_bad_recipe_is_refused_before_any_process_starts(write, tmp_path):
    recipe = write("bad.yaml", RECIPE.replace("linear: 32", "linaer: 32"))
    out = ddp_train(recipe, tmp_path / "runs")
    assert out.returncode == 2 and "did you mean 'linear'" in out.stderr
    assert "Traceback" not in out.stderr and "torchrun" not in out.stderr.lower()


def test_torchrun_arguments():
    from dlcli.engine.launch import torchrun_args
    from dlcli.errors import UsageError

    one = torchrun_args(4, 1, None, ["r.yaml", "--json"])
    assert one[:5] == ["--nproc-per-node", "4", "--nnodes", "1", "--standalone"]
    assert one[-5:] == ["-m", "dlcli", "train", "r.yaml", "--json"]
    two = torchrun_args(8, 2, "node0:29400", ["r.yaml"])
    assert two[4:8] == ["--rdzv-backend", "c10d", "--rdzv-endpoint", "node0:29400"]
    with pytest.raises(UsageError, match="--rdzv-endpoint"):
        torchrun_args(8, 2, None, ["r.yaml"])


def test_slurm_variables_become_torch_variables():
    from dlcli.engine.distributed import slurm_environment
    from dlcli.errors import UsageError

    env = {"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_LAUNCH_NODE_IPADDR": "10.0.0.7"}
    slurm_environment(env)
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["MASTER_ADDR"], env["MASTER_PORT"]) == (
        "5", "8", "1", "10.0.0.7", "29500")
    torchrun = {"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "5", "RANK": "0", "WORLD_SIZE": "2"}
    slurm_environment(torchrun)  # torchrun inside a SLURM job: its variables win
    assert torchrun["RANK"] == "0" and torchrun["WORLD_SIZE"] == "2"
    with pytest.raises(UsageError, match="MASTER_ADDR"):
        slurm_environment({"SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "0"})
    allocation = {"SLURM_NTASKS": "8", "SLURM_PROCID": "0"}  # a shell inside salloc: not a step
    slurm_environment(allocation)
    assert "RANK" not in allocation


def test_a_single_process_has_no_process_group():
    from dlcli.engine.distributed import from_environment

    d = from_environment("auto", {})
    assert not d.active and d.main and d.world == 1


def test_ranks_shard_each_global_batch_without_overlap():
    import torch

    from dlcli.engine.distributed import Distributed

    idx = torch.arange(10, 21)
    shards = [Distributed(rank=r, world=3).shard(idx) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 3]
    assert torch.equal(torch.cat(shards), idx)
    assert torch.equal(Distributed().shard(idx), idx)


def test_a_resumed_data_parallel_run_ends_bit_identical(write, tmp_path):
    recipe = write("ddp.yaml", RECIPE.replace("export:\n  onnx: {opset: 18}\n", ""))
    whole = ddp_train(recipe, tmp_path / "whole")
    cut = ddp_train(recipe, tmp_path / "cut", "--set", "train.epochs=2")
    assert whole.returncode == 0 and cut.returncode == 0, whole.stderr + cut.stderr
    resumed = launch("--resume", tmp_path / "cut" / "ddp" / "0001", "--set", "train.epochs=3")
    assert resumed.returncode == 0, resumed.stderr
    a, b = json.loads(whole.stdout), json.loads(resumed.stdout)
    assert a["weights"]["sha256"] == b["weights"]["sha256"]
    assert a["distributed"]["rank_weights_sha256"] == b["distributed"]["rank_weights_sha256"]
