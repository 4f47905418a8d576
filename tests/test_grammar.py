"""The one item grammar (`name | {name: main} | {name: {args}}`) behind model specs and augment lists."""
from __future__ import annotations

import pytest

from dlcli.grammar import parse_item
from dlcli.registry import Registry, UnknownName

things = Registry("widget")


@things.register("linear")
class Linear:
    """Has a main argument."""

    main = "out"


@things.register("relu")
class Relu:
    """Has none."""

    main = None


@pytest.mark.parametrize("item, expected", [
    ("relu", ("relu", {}, False)),
    ({"relu": None}, ("relu", {}, False)),
    ({"linear": 10}, ("linear", {"out": 10}, True)),
    ({"linear": [3, 4]}, ("linear", {"out": [3, 4]}, True)),
    ({"linear": {"out": 8, "bias": False}}, ("linear", {"out": 8, "bias": False}, False)),
    ({"relu": {}}, ("relu", {}, False)),
])
def test_the_three_forms(item, expected):
    assert parse_item(item, things, "widget") == expected


def test_the_args_are_a_copy_of_the_mapping():
    value = {"out": 8}
    _, args, _ = parse_item({"linear": value}, things, "widget")
    args["out"] = 9
    assert value == {"out": 8}


@pytest.mark.parametrize("item", ["lineer", {"lineer": 10}])
def test_a_mistyped_name_suggests_the_nearest(item):
    with pytest.raises(UnknownName) as e:
        parse_item(item, things, "widget")
    assert e.value.name == "lineer" and e.value.suggestion == "linear"
    assert str(e.value) == "unknown widget 'lineer'; did you mean 'linear'?"


@pytest.mark.parametrize("kind", ["layer", "augmentation"])
def test_a_main_value_for_an_entry_without_one(kind):
    with pytest.raises(ValueError, match=rf"^{kind} 'relu' takes a mapping of arguments, not 3$"):
        parse_item({"relu": 3}, things, kind)


@pytest.mark.parametrize("kind, noun", [("layer", "a layer"), ("augmentation", "an augmentation")])
def test_a_two_key_mapping(kind, noun):
    with pytest.raises(ValueError) as e:
        parse_item({"linear": 1, "relu": None}, things, kind)
    assert str(e.value) == f"{noun} is a name or a one-key mapping {{name: args}}, got {{'linear': 1, 'relu': None}}"


@pytest.mark.parametrize("item", [3, ["relu"], None, {}])
def test_an_item_neither_a_name_nor_a_one_key_mapping(item):
    with pytest.raises(ValueError, match=r"^a layer is a name or a one-key mapping \{name: args\}, got ") as e:
        parse_item(item, things, "layer")
    assert str(e.value).endswith(repr(item))


def test_a_non_string_key_is_an_unknown_name():
    with pytest.raises(UnknownName, match="unknown widget '3'"):
        parse_item({3: None}, things, "widget")
