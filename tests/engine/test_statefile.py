"""The training state file round-trips optimizer, schedule and RNG state without pickle."""
from __future__ import annotations

import torch

from dlcli.engine import statefile


def test_round_trip_keeps_types_and_values(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), betas=(0.8, 0.9))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    gen = torch.Generator().manual_seed(3)
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": {"generator": gen.get_state()},
             "loop": {"epoch": 2, "best": None, "stop_reason": "completed"}, "inf": float("inf")}
    path = tmp_path / "s.safetensors"
    path.write_bytes(statefile.pack(state))
    back = statefile.unpack(path)
    assert set(back["optimizer"]["state"]) == {0, 1}  # int keys survive
    betas = back["optimizer"]["param_groups"][0]["betas"]
    assert isinstance(betas, tuple) and betas == state["optimizer"]["param_groups"][0]["betas"]  # tuples survive
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert back["scheduler"] == sched.state_dict() and back["loop"] == state["loop"] and back["inf"] == float("inf")
    fresh = torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    fresh.load_state_dict(back["optimizer"])
    assert torch.equal(torch.Generator().set_state(back["rng"]["generator"]).get_state(), gen.get_state())


def test_file_is_not_a_pickle(tmp_path):
    path = tmp_path / "s.safetensors"
    path.write_bytes(statefile.pack({"a": torch.ones(2)}))
    assert not path.read_bytes().startswith(b"\x80")  # pickle protocol header
    assert b"dlcli.state" in path.read_bytes()[:200]
