"""Every shipped recipe and every ```yaml block of the docs is YAML that any real YAML tool reads.

dlcli's own loader tolerates `${vars.x}` unquoted inside a flow mapping (it swaps the braces out
before parsing); editors, linters and yaml.safe_load do not, so what we ship and what we tell
users to write must parse with plain yaml.safe_load. Duplicate keys are refused too: YAML says a
mapping's keys are unique, but PyYAML silently keeps the last one.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^(?P<indent>[ \t]*)```ya?ml[ \t]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)


class StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a mapping with the same key twice."""


def _unique_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                    f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def strict_load(text: str):
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)


def yaml_blocks() -> list[tuple[str, str]]:
    """(file:line, text) of every ```yaml fenced block in README.md and docs/*.md."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 2
            body = "\n".join(row[len(m["indent"]):] for row in m["body"].splitlines())
            found.append((f"{doc.relative_to(ROOT)}:{line}", body))
    return found


# A commented alternative inside a block (`# source: {type: csv, path: x.csv}`) is YAML users copy.
ALTERNATIVE = re.compile(r"^[ \t]*# ?(?P<line>[A-Za-z_][\w.]*: *[\[{].*)$", re.M)
# `${x}` written bare as a flow item or value (`{times: ${vars.depth}}`, `[${a}]`), even in prose.
BARE_REF_IN_FLOW = re.compile(r"[{\[,][ \t]*(?:[\w.]+:[ \t]*)?\$\{")


def commented_alternatives() -> list[tuple[str, str]]:
    """(where #n, line) of every commented `key: {flow}` or `key: [flow]` line in a yaml block."""
    return [(f"{where} #{i}", m["line"]) for where, body in yaml_blocks()
            for i, m in enumerate(ALTERNATIVE.finditer(body))]


BLOCKS = yaml_blocks()
ALTERNATIVES = commented_alternatives()
SHIPPED = sorted((ROOT / "recipes").glob("*.yaml")) + sorted((ROOT / "docs").glob("**/*.yml"))


def test_the_docs_have_yaml_blocks():
    """The scan finds the blocks (a broken fence pattern would make every test below vacuous)."""
    assert len(BLOCKS) >= 5 and any(where.startswith("README.md") for where, _ in BLOCKS)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_yaml_parses_with_plain_safe_load(path: Path):
    assert isinstance(strict_load(path.read_text(encoding="utf-8")), dict)


@pytest.mark.parametrize("where, text", BLOCKS, ids=[w for w, _ in BLOCKS])
def test_docs_yaml_blocks_parse_with_plain_safe_load(where: str, text: str):
    try:
        strict_load(text)
    except yaml.YAMLError as e:
        pytest.fail(f"{where}: not valid YAML: {e}")


@pytest.mark.parametrize("where, line", ALTERNATIVES, ids=[w for w, _ in ALTERNATIVES])
def test_commented_alternatives_in_docs_parse(where: str, line: str):
    try:
        strict_load(line)
    except yaml.YAMLError as e:
        pytest.fail(f"{where}: the commented alternative {line!r} is not valid YAML: {e}")


@pytest.mark.parametrize("path", [*DOCS, *SHIPPED], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_bare_reference_inside_a_flow_collection(path: Path):
    """Prose too: `repeat: {times: ${vars.depth}}` in a sentence is copied into recipes."""
    text = path.read_text(encoding="utf-8")
    bad = [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {text[m.start():m.end() + 20]!r}"
           for m in BARE_REF_IN_FLOW.finditer(text)]
    assert bad == [], "quote it, e.g. {times: \"${vars.depth}\"}:\n" + "\n".join(bad)


@pytest.mark.parametrize("text", ["a: {times: ${vars.depth}}\n", "a: 1\na: 2\n", "a: {b: 1, b: 2}\n"],
                         ids=["unquoted-ref-in-flow", "duplicate-key", "duplicate-flow-key"])
def test_the_strict_loader_refuses_what_real_tools_refuse(text: str):
    with pytest.raises(yaml.YAMLError):
        strict_load(text)
