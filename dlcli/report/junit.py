"""JUnit XML for CI systems: one test case per compared field of a `dlcli check`."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


def junit_xml(verdict: Any, where: dict) -> str:
    rows = verdict.rows
    suite = ET.Element("testsuite", name=f"dlcli check {where['recipe']}", tests=str(len(rows)),
                       failures=str(len(verdict.drifts)), errors="0", skipped="0", time=f"{where['seconds']:.3f}")
    props = ET.SubElement(suite, "properties")
    for name, value in (("mode", verdict.mode), ("mode_reason", verdict.mode_reason), ("lock", where["lock"]),
                        ("run", where["run"]), ("recipe_changed", str(bool(verdict.recipe_changes)).lower())):
        ET.SubElement(props, "property", name=name, value=value)
    for field, locked, now in verdict.environment:
        ET.SubElement(props, "property", name=f"environment.{field}", value=f"locked {locked}, now {now}")
    for row in rows:
        case = ET.SubElement(suite, "testcase", classname=f"dlcli.check.{where['recipe']}", name=row.field, time="0")
        text = f"locked {row.locked}, now {row.now}, tolerance {row.tolerance}"
        if row.status == "drift":
            ET.SubElement(case, "failure", message=text, type="drift").text = text
        else:
            ET.SubElement(case, "system-out").text = f"{row.status}: {text}"
    suites = ET.Element("testsuites", name="dlcli check", tests=suite.get("tests"), failures=suite.get("failures"))
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
