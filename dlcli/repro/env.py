"""What a run record says about where it ran: versions, device, git commit."""
from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import dlcli


def git_commit(where: Path) -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict:
    import numpy
    import torch

    return {"dlcli": dlcli.__version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "numpy": numpy.__version__, "platform": platform.platform()}


def device_info(device: Any) -> dict:
    import torch

    info = {"type": device.type, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine()}
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
    return info
