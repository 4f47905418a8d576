"""The registry: register/get/names/docs, did-you-mean, duplicates; every vocabulary entry is documented."""
from __future__ import annotations

import pytest

from dlcli.vocab import registries
from dlcli.registry import Registry, UnknownName, closest, first_line


def make_registry() -> Registry:
    reg = Registry("widget")

    @reg.register("gizmo")
    class Gizmo:
        """A gizmo.

        More text that `docs` leaves out.
        """

    @reg.register()
    def sprocket():
        """A sprocket."""

    @reg.register()
    class Named:
        """Registered under its `name` attribute."""

        name = "cog"

    return reg


def test_register_get_names_docs():
    reg = make_registry()
    assert reg.names() == ["cog", "gizmo", "sprocket"]
    assert list(reg) == ["cog", "gizmo", "sprocket"]
    assert len(reg) == 3
    assert "gizmo" in reg and "gadget" not in reg
    assert reg.get("gizmo").__name__ == "Gizmo"
    assert reg.get("sprocket").__name__ == "sprocket"
    assert reg.get("cog").__name__ == "Named"
    assert reg.docs() == {"cog": "Registered under its `name` attribute.", "gizmo": "A gizmo.", "sprocket": "A sprocket."}


def test_register_returns_the_object_unchanged():
    reg = Registry("widget")

    class Thing:
        """A thing."""

    assert reg.register("thing")(Thing) is Thing


def test_unknown_name_suggests_the_closest():
    reg = make_registry()
    with pytest.raises(UnknownName) as info:
        reg.get("gizmos")
    e = info.value
    assert isinstance(e, KeyError)
    assert (e.kind, e.name, e.suggestion) == ("widget", "gizmos", "gizmo")
    assert e.options == ["cog", "gizmo", "sprocket"]
    assert str(e) == "unknown widget 'gizmos'; did you mean 'gizmo'?"


def test_unknown_name_without_a_near_match_has_no_hint():
    with pytest.raises(UnknownName) as info:
        make_registry().get("zzzzzzzz")
    assert info.value.suggestion is None
    assert str(info.value) == "unknown widget 'zzzzzzzz'"


def test_unhashable_name_is_an_unknown_name_not_a_type_error():
    with pytest.raises(UnknownName):
        make_registry().get(["gizmo"])  # type: ignore[arg-type]


def test_duplicate_registration_raises():
    reg = make_registry()
    with pytest.raises(ValueError, match="widget 'gizmo' is registered twice"):
        reg.register("gizmo")(object)
    assert reg.get("gizmo").__name__ == "Gizmo"  # the first registration is kept


def test_closest_and_first_line():
    assert closest("adamm", ["sgd", "adam", "adamw"]) == ["adam"]
    assert closest("qqq", ["sgd", "adam"]) == []

    def f():
        """  Summary line.

        Body.
        """

    def g():
        pass

    assert first_line(f) == "Summary line."
    assert first_line(g) == ""


ENTRIES = [(vocab, name) for vocab, reg in registries().items() for name in reg.names()]


def test_vocabularies_are_all_listed():
    assert set(registries()) == {"layers", "architectures", "initializers", "datasets", "augmentations",
                                 "normalizations", "optimizers", "schedules", "losses", "metrics", "tasks",
                                 "callbacks", "samplers", "pruners"}
    assert all(len(reg) > 0 for reg in registries().values())


@pytest.mark.parametrize("vocab,name", ENTRIES, ids=[f"{v}-{n}" for v, n in ENTRIES])
def test_every_registered_entry_has_its_own_docstring(vocab, name):
    """`dlcli ls` prints the first docstring line; an entry must write its own, not inherit one."""
    obj = registries()[vocab].get(name)
    own = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    assert own and own.strip(), f"{vocab} '{name}' has no docstring of its own"
    assert registries()[vocab].docs()[name] == own.strip().splitlines()[0].strip()
