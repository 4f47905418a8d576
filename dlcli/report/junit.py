"""JUnit XML for CI systems: one test case per compared field of a `dlcli check`, or, when the
check could not give a verdict (a bad recipe or lock, a failed training), one error case saying
why, so a CI job always has a report to show for every recipe it checked."""
from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dlcli.errors import RecipeError, RunFailed, UsageError

# Characters XML 1.0 cannot hold even escaped (a recipe key may carry "\a" through a YAML escape).
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass
class Started:
    """When and where a check started: the suite's `timestamp` and `hostname`."""

    timestamp: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
    hostname: str = field(default_factory=socket.gethostname)
    clock: float = field(default_factory=time.perf_counter)

    def seconds(self) -> float:
        return time.perf_counter() - self.clock


def classname(name: str) -> str:
    """Jenkins reads a classname's last dot as package.class: keep the recipe's name one class."""
    return "dlcli.check." + name.replace(".", "_")


def suite_element(where: dict, started: Started, counts: dict, seconds: float) -> ET.Element:
    """<testsuite> with its counts (tests, failures, errors), time, timestamp and hostname."""
    return ET.Element("testsuite", name=f"dlcli check {where['recipe']}", tests=str(counts["tests"]),
                      failures=str(counts["failures"]), errors=str(counts["errors"]), skipped="0",
                      time=f"{seconds:.3f}", timestamp=started.timestamp, hostname=started.hostname)


def add_properties(suite: ET.Element, pairs: list) -> None:
    props = ET.SubElement(suite, "properties")
    for name, value in pairs:
        ET.SubElement(props, "property", name=name, value=str(value))


def document(suite: ET.Element) -> str:
    """The <testsuites> document around one suite, with the XML declaration."""
    suites = ET.Element("testsuites", name="dlcli check",
                        **{key: suite.get(key) for key in ("tests", "failures", "errors", "time")})
    suites.append(suite)
    ET.indent(suites)
    text = ET.tostring(suites, encoding="unicode")  # markup never holds such characters: only values can
    return '<?xml version="1.0" encoding="utf-8"?>\n' + NOT_XML.sub("\ufffd", text) + "\n"


def junit_xml(verdict: Any, where: dict, started: Started) -> str:
    """A finished check: a test case per field, drifts as failures."""
    rows = verdict.rows
    counts = {"tests": len(rows), "failures": len(verdict.drifts), "errors": 0}
    suite = suite_element(where, started, counts, where["seconds"])
    add_properties(suite, [("mode", verdict.mode), ("mode_reason", verdict.mode_reason), ("lock", where["lock"]),
                           ("run", where["run"]), ("recipe_changed", str(bool(verdict.recipe_changes)).lower())]
                   + [(f"environment.{f}", f"locked {locked}, now {now}") for f, locked, now in verdict.environment])
    for row in rows:
        case = ET.SubElement(suite, "testcase", classname=classname(where["name"]), name=row.field, time="0")
        text = f"locked {row.locked}, now {row.now}, tolerance {row.tolerance}"
        if row.status == "drift":
            ET.SubElement(case, "failure", message=text, type="drift").text = text
        else:
            ET.SubElement(case, "system-out").text = f"{row.status}: {text}"
    return document(suite)


def junit_error(error: BaseException, where: dict, started: Started) -> str:
    """A check that gave no verdict: one error case with the message the command printed."""
    bad_input = isinstance(error, (UsageError, RecipeError))
    known = isinstance(error, (UsageError, RecipeError, RunFailed))
    message = str(error) if known else f"{type(error).__name__}: {error}"
    seconds = started.seconds()
    suite = suite_element(where, started, {"tests": 1, "failures": 0, "errors": 1}, seconds)
    add_properties(suite, [("lock", where["lock"]), ("exit_code", 2 if bad_input else 1)])
    case = ET.SubElement(suite, "testcase", classname=classname(where["name"]), name="check", time=f"{seconds:.3f}")
    kind = "bad input (exit 2): nothing was compared" if bad_input else "the check failed before a verdict (exit 1)"
    ET.SubElement(case, "error", message=message, type=type(error).__name__).text = f"{kind}\n{message}"
    return document(suite)
