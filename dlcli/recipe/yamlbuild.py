"""Plain data from YAML text, built from parser events within the limits of dlcli.recipe.limits.

libyaml's parser (iterative, in C) turns the text into events; this module builds dicts, lists and
scalars from them with an explicit stack, so no nesting reaches Python's recursion limit, and it
counts every value (an alias counts as all it stands for) before building it. Only the standard
tags (str, int, float, bool, null, map, seq) are accepted, on any node, and a key may not repeat.
Faults that leave the document readable (a repeated key, a refused tag) are collected, so one run
reports them all; the others (malformed YAML, a limit) stop at once.
"""
from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml
from yaml import events as ev

from dlcli.errors import Path, Problem, RecipeError, dotted
from dlcli.recipe import limits
from dlcli.recipe.limits import Budget, LimitExceeded

_TAG = "tag:yaml.org,2002:"
SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
COLLECTION_TAGS = {ev.MappingStartEvent: _TAG + "map", ev.SequenceStartEvent: _TAG + "seq"}
# `${a.b}` is not valid YAML in a flow collection ({out: ${vars.width}}): it is swapped for the
# same-length `$(a.b)` before parsing, so marks keep their columns, and swapped back in strings.
_REF = re.compile(r"\$\{([A-Za-z0-9_.\-]*)\}")
_PLACEHOLDER = re.compile(r"\$\(([A-Za-z0-9_.\-]*)\)")
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
# YAML 1.1 reads 1e-3 as a string; accept the exponent forms everyone writes (YAML 1.2 style).
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1's implicit types with 1.2's exponents, less timestamps and `<<` merge keys (plain
    strings here: a date is no recipe value, and a merge key would be a tag in disguise)."""


def _make_resolver() -> _Resolver:
    _Resolver.add_implicit_resolver(_TAG + "float", _FLOAT, list("-+0123456789."))  # copies the class's table
    for rules in _Resolver.yaml_implicit_resolvers.values():
        rules[:] = [(tag, rx) for tag, rx in rules if tag not in (_TAG + "timestamp", _TAG + "merge")]
    return _Resolver()


class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's own (slower) event parser, where it was built without libyaml."""

    def __init__(self, text: str):
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


def _parser(text: str) -> Any:
    return yaml._yaml.CParser(text) if yaml.__with_libyaml__ else _PyParser(text)


_RESOLVER = _make_resolver()
_CONSTRUCT = yaml.constructor.SafeConstructor()
_STR, _INT = _TAG + "str", _TAG + "int"
_CONSTRUCTORS = {_TAG + kind: getattr(_CONSTRUCT, f"construct_yaml_{kind}")
                 for kind in ("int", "float", "bool", "null")}


@functools.lru_cache(maxsize=4096)
def _plain_tag(text: str) -> str:
    """The implicit tag of a plain scalar (recipes repeat the same few values: cached)."""
    return _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))


@dataclass
class Document:
    """One YAML document: its data, where each key path came from, and what is wrong with it."""

    data: Any
    marks: dict
    problems: list[Problem]
    warnings: list[str]


@dataclass
class _Open:
    """A mapping or sequence being built."""

    value: Any
    path: Path
    flow: bool
    anchor: Optional[str]
    marks_from: int
    size: int = 1
    height: int = 1
    key: Any = None
    has_key: bool = False


@dataclass
class _Anchor:
    value: Any
    path: Path
    size: int
    height: int
    marks: tuple = (0, 0)  # the slice of the marks list under the anchored node


@dataclass
class _Builder:
    text: str
    source: str
    budget: Budget
    depth: int = 0
    refs: set = field(default_factory=set)
    stack: list = field(default_factory=list)
    marks: list = field(default_factory=list)  # (key path, "file:line:col"), in document order
    first: dict = field(default_factory=dict)  # key path -> where it first appeared
    anchors: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    root: Any = None
    documents: int = 0
    mark: Any = None

    def where(self, mark: Any) -> str:
        return f"{self.source}:{mark.line + 1}:{mark.column + 1}"

    def run(self) -> None:
        parser = _parser(_REF.sub(lambda m: "$(" + m.group(1) + ")", self.text))
        try:
            while parser.check_event():
                event = parser.get_event()
                self.mark = event.start_mark
                handler = _HANDLERS.get(type(event))
                if handler:
                    handler(self, event)
        finally:
            parser.dispose()

    def document(self, event: ev.DocumentStartEvent) -> None:
        self.documents += 1
        if self.documents > 1:
            raise yaml.MarkedYAMLError(None, None, "expected a single document, but found another "
                                       "('---' starts a new one)", event.start_mark)

    # -- where a value goes -------------------------------------------------------------------
    def child_path(self) -> Path:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return top.path + (len(top.value),)
        return top.path + (top.key,) if top.has_key else top.path

    def expecting_key(self) -> bool:
        return bool(self.stack) and isinstance(self.stack[-1].value, dict) and not self.stack[-1].has_key

    def enter(self, mark: Any, size: int, height: int) -> Path:
        """Account for a value about to be placed (its values, depth, the container's length); its key path."""
        self.budget.spend_nodes(size)
        if height and len(self.stack) + height + self.depth > limits.MAX_DEPTH:
            raise LimitExceeded("MAX_DEPTH", f"values nest {len(self.stack) + height + self.depth} levels deep")
        if self.stack and len(self.stack[-1].value) >= limits.MAX_ITEMS:
            raise LimitExceeded("MAX_ITEMS", f"{dotted(self.stack[-1].path)} has {limits.MAX_ITEMS + 1:,} "
                                "entries or more")
        path = self.child_path()
        if self.stack and isinstance(self.stack[-1].value, list):
            self.add_mark(path, mark)
        return path

    def add_mark(self, path: Path, mark: Any) -> None:
        where = mark if isinstance(mark, str) else self.where(mark)
        self.marks.append((path, where))
        self.first.setdefault(path, where)

    def place(self, value: Any, size: int, height: int) -> None:
        """Put a finished value in its container (or make it the document)."""
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        top.size, top.height = top.size + size, max(top.height, height + 1)
        if isinstance(top.value, list):
            top.value.append(value)
        else:
            top.value[top.key], top.has_key = value, False

    # -- keys ---------------------------------------------------------------------------------
    def key(self, value: Any, mark: Any) -> None:
        top = self.stack[-1]
        path = top.path + (value,)
        if value in top.value:
            first = self.first.get(path)
            self.problems.append(Problem(path, f"duplicate key '{short(str(value))}' (first at {first}): a key may "
                                         "appear once in a mapping (YAML forbids repeats; the last one would "
                                         "silently win)", where=self.where(mark)))
        self.add_mark(path, mark)
        top.key, top.has_key = value, True
        top.size += 1

    def refuse_key(self, mark: Any) -> None:
        raise yaml.MarkedYAMLError(None, None, "a key must be a plain value, not a mapping or a sequence", mark)

    # -- events -------------------------------------------------------------------------------
    def scalar(self, event: ev.ScalarEvent) -> None:
        if self.expecting_key():
            self.budget.spend_nodes(1)
            value = self.construct(event, self.stack[-1].path)
            self.key(value, event.start_mark)
        else:
            path = self.enter(event.start_mark, 1, 0)
            value = self.construct(event, path)
            self.warn_flow_reference(event)
            self.place(value, 1, 0)
        if event.anchor:
            self.anchors[event.anchor] = _Anchor(value, (), 1, 0)

    def start(self, event: Any) -> None:
        if self.expecting_key():
            self.refuse_key(event.start_mark)
        path = self.enter(event.start_mark, 1, 1)
        self.check_collection_tag(event, path)
        value = {} if isinstance(event, ev.MappingStartEvent) else []
        self.stack.append(_Open(value, path, bool(event.flow_style), event.anchor, len(self.marks)))

    def end(self, event: Any) -> None:
        done = self.stack.pop()
        if done.anchor:
            self.anchors[done.anchor] = _Anchor(done.value, done.path, done.size, done.height,
                                                (done.marks_from, len(self.marks)))
        self.place(done.value, done.size, done.height)

    def alias(self, event: ev.AliasEvent) -> None:
        name = event.anchor
        if any(o.anchor == name for o in self.stack):
            raise yaml.MarkedYAMLError(None, None, f"the alias *{name} refers to a node that contains it "
                                       "(recursive structures are refused)", event.start_mark)
        if name not in self.anchors:
            raise yaml.MarkedYAMLError(None, None, f"unknown alias *{name}: an alias must follow its anchor &{name}",
                                       event.start_mark)
        anchor = self.anchors[name]
        if self.expecting_key():
            if anchor.height:
                self.refuse_key(event.start_mark)
            self.budget.spend_nodes(1)
            self.key(anchor.value, event.start_mark)
            return
        path = self.enter(event.start_mark, anchor.size, anchor.height)
        start, stop = anchor.marks
        for p, w in self.marks[start:stop]:  # the copy's keys are located where the anchored ones are
            self.add_mark(path + p[len(anchor.path):], w)
        self.place(copy.deepcopy(anchor.value), anchor.size, anchor.height)

    # -- scalars and tags ---------------------------------------------------------------------
    def construct(self, event: ev.ScalarEvent, path: Path) -> Any:
        tag = event.tag
        if tag is None and event.implicit[0]:  # plain: its form says its type (1, 1.5, true, null, text)
            tag = _plain_tag(event.value)
        elif tag in (None, "!"):  # quoted, or the non-specific tag: a string
            tag = _STR
        elif tag not in SCALAR_TAGS:
            self.refuse_tag(tag, path, event.start_mark)
            tag = _STR
        return self.typed(tag, event.value, path, event.start_mark)

    def typed(self, tag: str, text: str, path: Path, mark: Any) -> Any:
        if tag == _STR:
            if len(text) > limits.MAX_STRING_CHARS:
                self.problems.append(Problem(path, LimitExceeded("MAX_STRING_CHARS", f"a string of {len(text):,} "
                                                                 "characters").message, where=self.where(mark)))
            return self.restore(text) if "$(" in text else text
        if tag == _INT and len(text) > limits.MAX_INT_DIGITS:
            self.problems.append(Problem(path, LimitExceeded("MAX_INT_DIGITS", f"an integer of {len(text):,} "
                                                             "digits").message, where=self.where(mark)))
            return 0
        if tag == _INT and text.isascii() and text.isdigit() and (text[0] != "0" or text == "0"):
            return int(text)  # the common case, without the constructor's generality (0x, 0o, 1_000, 1:30)
        try:
            return _CONSTRUCTORS[tag](yaml.ScalarNode(tag, text))
        except (ValueError, KeyError, TypeError, OverflowError):
            self.problems.append(Problem(path, f"'{short(text)}' is not a valid !!{tag.removeprefix(_TAG)}",
                                         where=self.where(mark)))
            return text

    def restore(self, text: str) -> str:
        """The `${...}` that the parser saw as `$(...)`; a `$(...)` written as such stays."""
        return _PLACEHOLDER.sub(lambda m: "${" + m.group(1) + "}" if m.group(1) in self.refs else m.group(0), text)

    def check_collection_tag(self, event: Any, path: Path) -> None:
        if event.tag not in (None, "!", COLLECTION_TAGS[type(event)]):
            self.refuse_tag(event.tag, path, event.start_mark)

    def refuse_tag(self, tag: str, path: Path, mark: Any) -> None:
        shown = "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag
        why = " (recipes may not construct Python objects)" if "python/" in tag else ""
        self.problems.append(Problem(path, f"the YAML tag {shown} is refused{why}: a recipe holds plain values only "
                                     "(str, int, float, bool, null, mappings and sequences)", where=self.where(mark)))

    def warn_flow_reference(self, event: ev.ScalarEvent) -> None:
        """`{out: ${vars.width}}` reads here, but other YAML tools reject it: say how to quote it."""
        if not self.stack or not self.stack[-1].flow or event.style not in (None, ""):
            return
        start, stop = event.start_mark.index, event.end_mark.index
        at = self.text.find("${", start, stop)
        if at < 0:
            return
        written = self.text[start:stop]
        ref = _REF.search(written)
        kind = "mapping" if isinstance(self.stack[-1].value, dict) else "sequence"
        line = event.start_mark.line + self.text.count("\n", start, at)
        column = at - self.text.rfind("\n", 0, at)
        quoted = f"'{written}'" if '"' in written else f'"{written}"'
        self.warnings.append(f"{self.source}:{line + 1}:{column}: warning: {ref.group(0) if ref else written} inside "
                             f"a flow {kind} is not valid YAML for other tools; quote it: {quoted}")


_HANDLERS = {
    ev.DocumentStartEvent: _Builder.document, ev.ScalarEvent: _Builder.scalar, ev.AliasEvent: _Builder.alias,
    ev.MappingStartEvent: _Builder.start, ev.SequenceStartEvent: _Builder.start,
    ev.MappingEndEvent: _Builder.end, ev.SequenceEndEvent: _Builder.end,
}


def short(text: str, width: int = 60) -> str:
    """The text, or its start and its length when it is long (a 1 MB value must not flood a message)."""
    return text if len(text) <= width else f"{text[:width]}... ({len(text):,} characters)"


def line_col(text: str, offset: int) -> str:
    """ "line:col" (1-based) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return f"{line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def unprintable(text: str, source: str, most: int = 5) -> list[Problem]:
    """Control characters and other bytes YAML does not allow, each located."""
    found = []
    for m in _NON_PRINTABLE.finditer(text):
        found.append(Problem((), f"character U+{ord(m.group()):04X} is not allowed in YAML (a control character "
                             "or binary data: is this a recipe file?)", where=f"{source}:{line_col(text, m.start())}"))
        if len(found) == most:
            break
    return found


def _fatal(builder: _Builder, e: Exception) -> Problem:
    """The problem that stopped the build, located where the parser stood."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None) or builder.mark
    where = builder.where(mark) if mark is not None else f"{builder.source}:1:1"
    what = getattr(e, "problem", None) or str(e)
    if "maximum nesting depth" in what:  # libyaml's own guard, far past ours, when it scans ahead
        e = LimitExceeded("MAX_DEPTH", "values nest too deep")
    if isinstance(e, LimitExceeded):  # the key path, cut short: a deep one is all `[0][0]...`
        return Problem(builder.child_path()[:8], e.message, where=where)
    if isinstance(e, yaml.reader.ReaderError):  # the text was checked first: only a parser's own rule is left
        where = f"{builder.source}:{line_col(builder.text, min(e.position, len(builder.text)))}"
        what = f"{e.reason} (character {e.character!r})"
    return Problem((), f"malformed YAML: {what}", where=where)


def build(text: str, source: str, budget: Optional[Budget] = None, depth: int = 0) -> Document:
    """The document in `text`; a RecipeError (every problem located) when it cannot be read.

    `budget` is shared by the files and values of one composition; `depth` is how deep the value
    will sit (a --set value under its key path)."""
    bad = unprintable(text, source)
    if bad:
        raise RecipeError(bad, source)
    builder = _Builder(text, source, budget or Budget(), depth, set(_REF.findall(text)))
    try:
        builder.run()
    except (yaml.YAMLError, LimitExceeded) as e:
        raise RecipeError(builder.problems + [_fatal(builder, e)], source) from None
    return Document(builder.root, dict(builder.marks), builder.problems, builder.warnings)
