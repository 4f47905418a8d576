"""train.device names a device this machine has, or the run stops before it starts (exit 2)."""
from __future__ import annotations

import pytest

from dlcli.errors import UsageError
from tests.conftest import TINY


def test_a_cuda_index_beyond_the_devices_is_refused(monkeypatch):
    import torch

    from dlcli.engine.device import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(UsageError, match=r"has 2 CUDA devices \(cuda:0 \.\. cuda:1\)"):
        pick_device("cuda:5")


def test_mps_where_there_is_none_stops_training_before_the_run_directory(cli, write, tmp_path):
    import torch

    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        pytest.skip("this machine has MPS")
    r = cli("train", write("r.yaml", TINY + "  device: mps\n"), "--runs-dir", tmp_path / "runs")
    assert r.code == 2, r.err
    assert "MPS" in r.err and "device: auto" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "runs").exists()
