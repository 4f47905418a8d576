"""Hostile recipes: bombs, deep nesting, binary bytes, refused tags, repeated keys, odd `extends`.

Every one is bad input: exit 2 with a located message naming what is wrong (and the limit, for
a limit), quickly, and never a traceback. (test_fuzz_recipes.py runs the worst bombs again in a
subprocess under a memory cap, where a crash would show as a signal.)
"""
from __future__ import annotations

import json
import os
import re
import time

import pytest

from dlcli.recipe import limits
from tests.conftest import ROOT, TINY

MODEL = "model:\n  - linear: 8\n  - relu\n  - linear: auto\n"


def bad(cli, path, *extra) -> str:
    r = cli("validate", path, *extra)
    assert r.code == 2, (r.code, r.out, r.err[-2000:])
    assert "Traceback" not in r.err
    return " ".join(r.err.split())  # rich wraps long lines; compare on single spaces


def located(err: str, name: str) -> bool:
    return re.search(rf"{re.escape(name)}:\d+:\d+", err) is not None


def laughs(levels: int = 12, width: int = 9) -> str:
    """The billion laughs: each anchor a list of `width` aliases to the one before."""
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


# -- bombs and limits -------------------------------------------------------------------------
@pytest.mark.parametrize("text, limit", [
    (laughs(), "MAX_NODES"),                                                   # 9^12 strings
    ("a: &a [" + ", ".join(["x"] * 5000) + "]\nb: [" + ", ".join(["*a"] * 5000) + "]\n", "MAX_NODES"),  # wide
    ("a: " + "[" * 20000 + "]" * 20000 + "\n", "MAX_DEPTH"),                  # flow nesting
    ("".join(" " * i + f"k{i}:\n" for i in range(1000)), "MAX_DEPTH"),        # block nesting
])
def test_bombs_stop_at_a_limit(cli, write, text, limit):
    started = time.monotonic()
    err = bad(cli, write("bomb.yaml", text))
    assert limit in err and located(err, "bomb.yaml")
    assert time.monotonic() - started < 5


def test_alias_bomb_in_a_set_value(cli, write):
    value = "{" + laughs().strip().replace("\n", ", ") + "}"
    err = bad(cli, write("r.yaml", "vars: {w: 1}\n" + TINY), "--set", f"vars.w={value}")
    assert "MAX_NODES" in err and "--set vars.w=" in err and len(err) < 2000


def test_recursive_alias_is_refused(cli, write):
    err = bad(cli, write("r.yaml", "vars: &v {a: *v}\n" + TINY))
    assert "refers to a node that contains it" in err and "r.yaml:1:14" in err


@pytest.mark.parametrize("model", [
    "model:\n" + "".join("  " * i + "- residual:\n" for i in range(1, 200)) + "  " * 200 + "- relu\n",
    "model: " + "[{residual: " * 3000 + "[relu]" + "}]" * 3000 + "\n",
], ids=["block-200", "flow-3000"])
def test_residual_nesting_stops_at_the_depth_limit(cli, write, model):
    err = bad(cli, write("r.yaml", TINY.replace(MODEL, model)))
    assert f"more than the limit MAX_DEPTH = {limits.MAX_DEPTH}" in err and located(err, "r.yaml")
    assert "model[0].residual[0]" in err


def test_depth_just_within_the_limit_reads(cli, write):
    vars_ = "vars: {deep: " + "[" * (limits.MAX_DEPTH - 2) + "]" * (limits.MAX_DEPTH - 2) + "}\n"
    assert cli("validate", write("ok.yaml", vars_ + TINY)).code == 0
    vars_ = "vars: {deep: " + "[" * (limits.MAX_DEPTH - 1) + "]" * (limits.MAX_DEPTH - 1) + "}\n"
    assert "MAX_DEPTH" in bad(cli, write("r.yaml", vars_ + TINY))


def test_too_many_items_in_one_list(cli, write):
    text = "vars:\n  xs: [" + ", ".join(["1"] * (limits.MAX_ITEMS + 1)) + "]\n" + TINY
    err = bad(cli, write("r.yaml", text))
    assert "MAX_ITEMS" in err and "vars.xs" in err and "r.yaml:2:" in err


def test_ten_megabyte_file_is_refused_unread(cli, tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("vars:\n  xs: [" + "1, " * 3_500_000 + "1]\n" + TINY)
    started = time.monotonic()
    err = bad(cli, path)
    assert time.monotonic() - started < 5
    assert "MAX_DOCUMENT_BYTES = 1048576" in err and located(err, "big.yaml")


@pytest.mark.parametrize("step, limit", [
    ('"${vars.a%d}${vars.a%d}"', "MAX_STRING_CHARS"),       # strings doubling
    ('["${vars.a%d}", "${vars.a%d}"]', "MAX_NODES"),         # lists doubling
])
def test_interpolation_bombs(cli, write, step, limit):
    lines = ["vars:", "  a0: xxxxxxxxxxxxxxxx"] + [f"  a{i}: " + step % (i - 1, i - 1) for i in range(1, 40)]
    started = time.monotonic()
    err = bad(cli, write("r.yaml", "\n".join(lines) + "\n" + TINY))
    assert time.monotonic() - started < 5
    assert limit in err and located(err, "r.yaml")


def test_reference_chain_limit_holds_in_any_order(cli, write):
    n = limits.MAX_REFERENCE_DEPTH + 5
    chain = [f"  v{i}: ${{vars.v{i + 1}}}" for i in range(n)] + [f"  v{n}: 1"]
    for lines in (chain, chain[::-1]):
        err = bad(cli, write("r.yaml", "vars:\n" + "\n".join(lines) + "\n" + TINY))
        assert "MAX_REFERENCE_DEPTH" in err and located(err, "r.yaml")


def test_doubling_empty_strings_finish_quickly(cli, write):
    lines = ["vars:", "  a0: ''"] + [f'  a{i}: "${{vars.a{i - 1}}}${{vars.a{i - 1}}}"' for i in range(1, 30)]
    started = time.monotonic()
    r = cli("validate", write("r.yaml", "\n".join(lines) + "\n" + TINY))
    assert r.code == 0, r.err
    assert time.monotonic() - started < 5


# -- text that is not YAML --------------------------------------------------------------------
@pytest.mark.parametrize("char", ["\x01", "\x00", "\x1b", "\x7f", "\ufffe"])
def test_control_characters_are_located(cli, write, char):
    err = bad(cli, write("r.yaml", TINY.replace("name: tiny", f"name: ti{char}ny")))
    assert f"U+{ord(char):04X}" in err and "r.yaml:1:9" in err


def test_binary_bytes_are_located(cli, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_bytes(b"seed: 1\nname: \xff\xfe\x00\x81\n")
    err = bad(cli, path)
    assert "0xff" in err and "not UTF-8" in err and "r.yaml:2:7" in err


def test_utf16_with_a_byte_order_mark_reads(cli, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_bytes(TINY.lstrip().encode("utf-16"))
    r = cli("validate", path)
    assert r.code == 0, r.err


def test_integer_past_the_int_string_limit(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("epochs: 2", "epochs: " + "9" * 5000)))
    assert "MAX_INT_DIGITS = 4300" in err and "train.epochs" in err and "r.yaml:9:11" in err


def test_integer_past_the_limit_in_a_set_value(cli, write):
    err = bad(cli, write("r.yaml", TINY), "--set", "train.epochs=" + "9" * 5000)
    assert "MAX_INT_DIGITS" in err and "--set train.epochs=999" in err


def test_more_than_one_document(cli, write):
    err = bad(cli, write("r.yaml", TINY + "---\nseed: 1\n"))
    assert "single document" in err and "r.yaml:11:1" in err


# -- what YAML allows but a recipe must not -----------------------------------------------------
@pytest.mark.parametrize("where, text", [
    ("top", "seed: 1\nseed: 2\n"),
    ("nested", "vars: {a: 1, b: 2, a: 3}\n"),
    ("deep", "vars:\n  x:\n    y:\n      - {k: 1}\n      - {k: 1, k: 2}\n"),
])
def test_duplicate_keys_at_any_depth(cli, write, where, text):
    err = bad(cli, write("r.yaml", text + TINY))
    assert "duplicate key" in err and located(err, "r.yaml") and "first at" in err


def test_every_duplicate_key_is_reported_at_once(cli, write):
    err = bad(cli, write("r.yaml", "seed: 1\nseed: 2\nvars: {a: 1, a: 2}\n" + TINY))
    assert err.count("duplicate key") == 2 and "r.yaml:2:1" in err and "r.yaml:3:14" in err


@pytest.mark.parametrize("text, tag", [
    ("vars: {cmd: !!python/object/apply:os.system [echo hi]}\n", "!!python/object/apply:os.system"),
    ("vars: !!python/object:builtins.dict {a: 1}\n", "!!python/object:builtins.dict"),   # on a mapping
    ("vars: {t: !!python/tuple [1, 2]}\n", "!!python/tuple"),                            # on a sequence
    ("vars: {b: !!binary aGVsbG8=}\n", "!!binary"),
    ("vars: {s: !!set {a: null}}\n", "!!set"),
    ("vars: {d: !!timestamp 2024-01-01}\n", "!!timestamp"),
    ("vars: {c: !custom x}\n", "!custom"),
])
def test_non_standard_tags_are_refused_on_any_node(cli, write, text, tag):
    err = bad(cli, write("r.yaml", text + TINY))
    assert f"tag {tag} is refused" in err and "r.yaml:1:" in err


def test_standard_tags_read(cli, write):
    text = "vars: !!map {a: !!int '3', b: !!str 3, c: !!float '1', d: !!seq [!!bool true, !!null '']}\n"
    assert cli("validate", write("ok.yaml", text + TINY)).code == 0


def test_flow_mapping_reference_warns_with_the_quoted_form(cli, write):
    text = "vars: {w: 8}\n" + TINY.replace("- linear: 8", "- linear: {out: ${vars.w}}")
    r = cli("validate", write("r.yaml", text))
    assert r.code == 0, r.err
    assert 'r.yaml:7:19: warning: ${vars.w} inside a flow mapping is not valid YAML for other tools; ' \
           'quote it: "${vars.w}"' in " ".join(r.err.split())
    r = cli("validate", write("r.yaml", text), "--json")
    warnings = json.loads(r.out)["warnings"]
    assert r.code == 0 and len(warnings) == 1 and warnings[0].endswith('r.yaml:7:19: warning: ${vars.w} inside '
                                                                       'a flow mapping is not valid YAML for other '
                                                                       'tools; quote it: "${vars.w}"')


def test_flow_sequence_reference_warns_too(cli, write):
    r = cli("validate", write("r.yaml", "vars: {w: 8, tags: [a, b-${vars.w}]}\n" + TINY))
    assert r.code == 0 and "r.yaml:1:26: warning" in r.err and "flow sequence" in r.err and '"b-${vars.w}"' in r.err


def test_quoted_or_block_references_do_not_warn(cli, write):
    text = "vars: {w: 8}\n" + TINY.replace("- linear: 8", '- linear: {out: "${vars.w}"}').replace(
        "- linear: auto", "- linear: ${vars.w}\n  - linear: auto")
    r = cli("validate", write("r.yaml", text))
    assert r.code == 0 and "warning" not in r.err, r.err


# -- extends ----------------------------------------------------------------------------------
def test_extends_chain_past_the_limit(cli, tmp_path):
    n = limits.MAX_EXTENDS_DEPTH + 4
    for i in range(n):
        (tmp_path / f"c{i}.yaml").write_text(f"extends: c{i + 1}.yaml\nseed: {i}\n")
    (tmp_path / f"c{n}.yaml").write_text(TINY)
    err = bad(cli, tmp_path / "c0.yaml")
    assert "MAX_EXTENDS_DEPTH = 16" in err and "extends" in err and located(err, ".yaml")


def test_diamond_extends_read_each_base_once_and_stop_at_the_load_limit(cli, tmp_path):
    for i in range(8):  # each file extends the next one twice: 2^8 paths, 8 files
        (tmp_path / f"d{i}.yaml").write_text(f"extends: [d{i + 1}.yaml, d{i + 1}.yaml]\nseed: {i}\n")
    (tmp_path / "d8.yaml").write_text(TINY)
    assert cli("validate", tmp_path / "d0.yaml").code == 0
    (tmp_path / "wide.yaml").write_text("extends: [" + ", ".join(["d8.yaml"] * 40) + "]\n")
    err = bad(cli, tmp_path / "wide.yaml")
    assert "MAX_EXTENDS_LOADS = 32" in err and "wide.yaml:1:" in err


def test_extends_of_a_directory(cli, write, tmp_path):
    (tmp_path / "base").mkdir()
    err = bad(cli, write("r.yaml", "extends: base\n" + TINY))
    assert "is a directory" in err and "r.yaml:1:1" in err


def test_extends_of_a_device_is_not_read(cli, write):
    err = bad(cli, write("r.yaml", "extends: /dev/zero\n" + TINY))
    assert "not a regular file" in err and "r.yaml:1:1" in err


@pytest.mark.parametrize("base", ["just a string\n", "- a\n- b\n", "# nothing\n", "42\n"])
def test_extends_of_a_document_that_is_no_mapping(cli, write, base):
    write("base.yaml", base)
    err = bad(cli, write("r.yaml", "seed: 1\nextends: base.yaml\n" + TINY))
    assert "a recipe is a mapping of sections" in err and "r.yaml:2:1" in err


@pytest.mark.parametrize("value", ["5", "{a: 1}", "[base.yaml, 3]", "''"])
def test_extends_that_is_no_path(cli, write, value):
    err = bad(cli, write("r.yaml", f"extends: {value}\n" + TINY))
    assert "extends" in err and located(err, "r.yaml")


def test_extends_path_too_long_for_the_os(cli, write):
    err = bad(cli, write("r.yaml", "extends: " + "x" * 5000 + ".yaml\n" + TINY))
    assert "too long" in err and "r.yaml:1:1" in err and len(err) < 1000


# -- --set ------------------------------------------------------------------------------------
@pytest.mark.parametrize("override, limit", [
    ("vars.w=" + "[" * 3000 + "]" * 3000, "MAX_DEPTH"),
    (".".join(["a"] * 3000) + "=1", "MAX_DEPTH"),
    ("vars.w='" + "x" * (limits.MAX_STRING_CHARS + 1) + "'", "MAX_STRING_CHARS"),
])
def test_set_values_are_held_to_the_same_limits(cli, write, override, limit):
    err = bad(cli, write("r.yaml", "vars: {w: 1}\n" + TINY), "--set", override)
    assert limit in err and "--set " in err and len(err) < 2000


def test_a_set_key_path_counts_toward_the_depth(cli, write):
    recipe = write("r.yaml", "vars: {w: 1}\n" + TINY)
    n = limits.MAX_DEPTH - 2  # under the recipe's mapping and vars
    assert cli("validate", recipe, "--set", "vars.w=" + "[" * n + "]" * n).code == 0
    err = bad(cli, recipe, "--set", "vars.w=" + "[" * (n + 1) + "]" * (n + 1))
    assert "MAX_DEPTH" in err and "--set vars.w=" in err


@pytest.mark.parametrize("value, what", [
    ("{a: 1, a: 2}", "duplicate key"),
    ("!!python/object/apply:os.system [echo]", "is refused"),
    ("\x01", "U+0001"),
])
def test_set_values_are_refused_like_recipes(cli, write, value, what):
    err = bad(cli, write("r.yaml", "vars: {w: 1}\n" + TINY), "--set", f"vars.w={value}")
    assert what in err and "--set vars.w=" in err


def test_set_value_with_a_flow_reference_reads(cli, write):
    r = cli("validate", write("r.yaml", "vars: {w: 5}\n" + TINY), "--set", "model.0={linear: ${vars.w}}")
    assert r.code == 0, r.err


def test_limits_are_documented_with_their_values():
    text = (ROOT / "docs" / "recipe.md").read_text()
    section = text[text.index("## Limits"):]
    for name, value in limits.LIMITS.items():
        assert re.search(rf"`{name}` \| {value}\b", section), name


def test_refusing_a_bomb_writes_no_file(cli, write, tmp_path):
    path = write("r.yaml", laughs())
    before = sorted(os.listdir(tmp_path)), sorted(os.listdir(os.getcwd()))
    bad(cli, path)
    assert (sorted(os.listdir(tmp_path)), sorted(os.listdir(os.getcwd()))) == before


def test_mappings_a_set_creates_are_located_at_the_set(cli, write):
    r = cli("validate", write("r.yaml", TINY), "--set", "check.metrics.test.los.rtol=[]")
    assert r.code == 2
    problems = r.err.strip().split("\n")[1:]
    assert problems and all(p.startswith("  --set check.metrics.test.los.rtol=[]: ") for p in problems), r.err
