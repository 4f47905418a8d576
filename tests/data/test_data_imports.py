"""Validation paths must not pay for torch or scikit-learn."""
from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from pathlib import Path
import dlcli.data as d
for name in d.sources.names():
    if name not in ("csv", "npz", "image_folder", "text"):
        src = d.sources.get(name)()
        src.info(src.Args(), Path("."))
info = d.sources.get("iris")().info(None, Path("."))
assert d.check(["hflip", {"mixup": 0.2}, "hflp"], info)
heavy = sorted(m for m in ("torch", "sklearn", "PIL.Image") if m in sys.modules)
print(",".join(heavy))
"""


def test_import_and_validation_do_not_import_torch_or_sklearn():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
