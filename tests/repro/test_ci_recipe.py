"""The shipped CI recipe against its committed lock, as a CI job runs it: a subprocess from the
repository root. Strict when this machine's environment matches the lock's, tolerant otherwise."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

from tests.conftest import ROOT


def test_shipped_ci_recipe_passes_against_its_committed_lock(tmp_path):
    lock = json.loads((ROOT / "recipes" / "digits-ci.lock.json").read_text())
    out = subprocess.run(
        [sys.executable, "-m", "dlcli", "check", "recipes/digits-ci.yaml", "--json", "--runs-dir", str(tmp_path / "runs"),
         "--junit", str(tmp_path / "check.xml")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout)
    differences = [d["field"] for d in report["environment_differences"]]
    print(f"mode {report['mode']}: {report['mode_reason']}")  # shown by pytest -rA / on failure
    assert out.returncode == 0, [r for r in report["rows"] if r["status"] == "drift"]
    assert report["passed"] and not report["recipe_changed"]
    assert report["mode"] == ("tolerant" if differences else "strict")
    rows = {r["field"]: r for r in report["rows"]}
    if report["mode"] == "strict":
        assert rows["weights sha256"]["now"] == lock["weights"]
    assert {"test.accuracy", "test.loss", "onnx graph", "data", "splits"} <= set(rows)
    assert ET.parse(tmp_path / "check.xml").getroot().get("failures") == "0"


def test_the_documented_github_workflow_checks_every_locked_recipe():
    import yaml

    workflow = yaml.safe_load((ROOT / "docs" / "ci" / "dlcli-check.yml").read_text())
    steps = workflow["jobs"]["check"]["steps"]
    script = next(s["run"] for s in steps if "dlcli check" in s.get("run", ""))
    assert "recipes/*.lock.json" in script and "--junit" in script and "exit $status" in script
    assert any(s.get("uses", "").startswith("actions/upload-artifact") and s.get("if") == "always()" for s in steps)
    locks = sorted((ROOT / "recipes").glob("*.lock.json"))
    assert locks and all(p.with_name(p.name.replace(".lock.json", ".yaml")).is_file() for p in locks)
