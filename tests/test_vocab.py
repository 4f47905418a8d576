"""The vocabulary index (dlcli/vocab.py): one entry per registry, where recipes write its names,
and the one source `dlcli ls`, `dlcli schema` and recipe checking read."""
from __future__ import annotations

import json
import subprocess
import sys
import typing

import pytest
from pydantic import BaseModel

from dlcli import vocab
from tests.conftest import ROOT
from tests.test_layering import layer_of


def test_importing_the_index_imports_no_registry_and_no_torch():
    code = ("import json, sys, dlcli.vocab; print(json.dumps(sorted(m for m in sys.modules if m == 'torch' or "
            "m.startswith(('dlcli.nn', 'dlcli.data', 'dlcli.tasks', 'dlcli.engine', 'dlcli.search', 'torch.')))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == []


def test_every_vocabulary_once_with_its_own_registry_and_a_description():
    regs = vocab.registries()
    assert list(regs) == vocab.names() and len(set(vocab.names())) == len(vocab.VOCABULARIES)
    assert len({id(r) for r in regs.values()}) == len(regs)  # no registry listed twice
    for v in vocab.VOCABULARIES:
        assert len(regs[v.name]) > 0, v.name
        assert v.about and "\n" not in v.about and v.keys, v.name
    assert {"tasks", "callbacks"} <= set(regs)
    assert regs["callbacks"] is __import__("dlcli.engine.callbacks", fromlist=["callbacks"]).callbacks


def _section(annotation: typing.Any) -> typing.Any:
    """The pydantic model an annotation holds (Optional[Search] -> Search), else None (an open value)."""
    candidates = [annotation, *typing.get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _is_recipe_path(path: tuple) -> bool:
    """Every key down the schema exists, as far as the schema types the sections (model is open)."""
    from dlcli.recipe.schema import Recipe

    model = Recipe
    for key in path:
        if model is None:
            return True
        if key not in model.model_fields:
            return False
        model = _section(model.model_fields[key].annotation)
    return True


@pytest.mark.parametrize("v", vocab.VOCABULARIES, ids=lambda v: v.name)
def test_each_vocabulary_is_written_at_real_recipe_keys(v):
    bad = [p for p in (*v.keys, *v.args_at) if not _is_recipe_path(p)]
    assert not bad, f"{v.name}: {bad} are not recipe keys"
    assert set(v.args_at) <= set(v.keys)


def test_a_made_up_key_is_not_a_recipe_path():
    assert not _is_recipe_path(("train", "optimiser"))  # the check above can fail
    assert not _is_recipe_path(("search", "smapler"))


def test_registries_sit_below_the_index_in_the_layers():
    """The index imports its registries by name, out of sight of tests/test_layering.py's scan."""
    here = layer_of("dlcli.vocab")
    for v in vocab.VOCABULARIES:
        module = v.registry_at.split(":")[0]
        assert layer_of(module) is not None and layer_of(module) >= here, (v.name, module)


def test_components_with_arguments_are_the_ones_composition_expands():
    from dlcli.recipe.compose import COMPONENTS

    written = {p for v in vocab.VOCABULARIES for p in v.args_at}
    assert written == {("train", key) for key in COMPONENTS}


def test_written_with_args_names_the_vocabulary_of_a_component_key():
    assert vocab.written_with_args(("train", "optimizer")).name == "optimizers"
    assert vocab.written_with_args(("train", "loss")).name == "losses"
    assert vocab.written_with_args(("train", "metrics")) is None
    assert vocab.find("optimisers") is None
    with pytest.raises(KeyError):
        vocab.registry("optimisers")


@pytest.mark.parametrize("path, expected", [(("train", "optimizer", "lr"), True), (("train", "optimizer", "lrr"), False),
                                            (("train", "schedule", "warmup"), False), (("train", "metrics", "x"), False),
                                            (("train", "optimizer"), False)])
def test_component_field_reads_arguments_through_the_index(path, expected):
    from dlcli.recipe.check import component_field

    doc = {"train": {"optimizer": {"name": "adam"}, "schedule": {"name": "constant"}, "metrics": ["accuracy"]}}
    assert component_field(doc, path) is expected


def test_ls_names_every_vocabulary_of_the_index(cli):
    r = cli("ls", "vocabularies")
    assert r.code == 2 and f"(one of: {', '.join(vocab.names())})" in r.err
    r = cli("ls", "callbacks", "--json")
    assert r.code == 0 and "grad_norm" in json.loads(r.out)
