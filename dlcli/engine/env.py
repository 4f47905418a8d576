"""What a run record says about where it ran: versions, CPU and its instruction sets, GPU and
driver, threads and world size. A lock file keeps this, and `dlcli check` compares it field by
field to decide whether bit-identical results can be expected (strict) or only close ones."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

import dlcli

# The instruction sets that pick different CPU kernels (and so different float rounding).
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2")
PACKAGES = ("torch", "numpy", "onnx", "onnxruntime", "onnxscript")


def git_commit(where: Path) -> Optional[str]:
    out = _command(["git", "rev-parse", "HEAD"], cwd=where)
    return out or None


def _command(args: list[str], cwd: Optional[Path] = None) -> str:
    """A short command's first output line; '' when it is missing or fails."""
    try:
        out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip().splitlines()[0].strip() if out.returncode == 0 and out.stdout.strip() else ""


@lru_cache(maxsize=None)  # a scan of sys.path per lookup; installs do not change under a running process
def package_version(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict:
    return {"dlcli": dlcli.__version__, "python": sys.version.split()[0],
            **{name: package_version(name) for name in PACKAGES}, "platform": platform.platform()}


@lru_cache(maxsize=1)
def _cpuinfo() -> dict:
    """The first processor's fields of /proc/cpuinfo (Linux); {} elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_model() -> str:
    info = _cpuinfo()
    name = info.get("model name") or info.get("Model name") or info.get("Hardware")
    if not name and sys.platform == "darwin":
        name = _command(["sysctl", "-n", "machdep.cpu.brand_string"])
    return name or platform.processor() or platform.machine()


def cpu_isa() -> list[str]:
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    if not flags and sys.platform == "darwin":
        flags = set(_command(["sysctl", "-n", "machdep.cpu.features"]).lower().replace(".", "_").split())
    return [f for f in ISA_FLAGS if f in flags]


def gpu_info(device: Any) -> dict:
    import torch

    if device.type != "cuda":
        return {}
    props = torch.cuda.get_device_properties(device)
    driver = _command(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    return {"gpu": props.name, "gpu_capability": f"{props.major}.{props.minor}", "gpu_driver": driver or None,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


def environment(device: Any, determinism: dict) -> dict:
    """Everything that can change a run's floating-point results, one flat mapping."""
    import torch

    return {"python": sys.version.split()[0], **{name: package_version(name) for name in PACKAGES},
            "os": f"{platform.system()} {platform.machine()}", "cpu": cpu_model(), "cpu_isa": cpu_isa(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "device": device.type,
            **gpu_info(device), "threads": torch.get_num_threads(),
            "world_size": int(os.environ.get("WORLD_SIZE", "1")),
            "deterministic": bool(determinism.get("deterministic"))}


def device_info(device: Any) -> dict:
    import torch

    info = {"type": device.type, "threads": torch.get_num_threads(), "cpu": cpu_model()}
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
    return info
