"""The editor's JSON Schema and `dlcli validate` agree on component arguments and their bounds.

Optimizers, schedules, losses and augmentations each carry an argument model; the schema must
describe every registered name with each argument's type, bound and default, and reject what
`validate` rejects (negative lr, unknown arguments, probabilities above 1, ...).
"""
from __future__ import annotations

import math

import pytest
import yaml

from tests.conftest import ROOT

jsonschema = pytest.importorskip("jsonschema")

BASE = {"data": {"source": "iris"}, "model": [{"linear": 8}, "relu", {"linear": "auto"}]}


@pytest.fixture(scope="module")
def schema() -> dict:
    from dlcli.recipe.jsonschema import recipe_schema

    schema = recipe_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@pytest.fixture(scope="module")
def validator(schema):
    return jsonschema.Draft202012Validator(schema)


def with_train(**train) -> dict:
    return {**BASE, "train": train}


def with_augment(*items) -> dict:
    return {**BASE, "data": {"source": "iris", "augment": list(items)}}


# Each bad input: what the schema must refuse and `validate` must refuse with a located message.
BAD = {
    "negative-lr": (with_train(optimizer={"name": "adam", "lr": -1}), "train.optimizer.lr"),
    "zero-lr": (with_train(optimizer={"name": "sgd", "lr": 0}), "train.optimizer.lr"),
    "unknown-optimizer-argument": (with_train(optimizer={"name": "adam", "lrr": 0.1}), "train.optimizer.lrr"),
    "momentum-1": (with_train(optimizer={"name": "sgd", "momentum": 1.0}), "train.optimizer.momentum"),
    "beta-above-1": (with_train(optimizer={"name": "adamw", "betas": [0.9, 1.5]}), "train.optimizer.betas"),
    "negative-eps": (with_train(optimizer={"name": "adam", "eps": -1e-8}), "train.optimizer.eps"),
    "negative-weight-decay": (with_train(optimizer={"name": "adamw", "weight_decay": -0.1}),
                              "train.optimizer.weight_decay"),
    "dampening-above-1": (with_train(optimizer={"name": "sgd", "dampening": 2}), "train.optimizer.dampening"),
    "schedule-gamma-0": (with_train(schedule={"name": "step", "gamma": 0}), "train.schedule.gamma"),
    "schedule-unknown-argument": (with_train(schedule={"name": "cosine", "warmpu": 1}), "train.schedule.warmpu"),
    "onecycle-pct-1": (with_train(schedule={"name": "onecycle", "pct_start": 1}), "train.schedule.pct_start"),
    "label-smoothing-1": (with_train(loss={"name": "cross_entropy", "label_smoothing": 1.0}),
                          "train.loss.label_smoothing"),
    "hinge-p-3": (with_train(loss={"name": "hinge", "p": 3}), "train.loss.p"),
    "loss-unknown-argument": (with_train(loss={"name": "cross_entropy", "smoothing": 0.1}), "train.loss.smoothing"),
    "negative-noise": (with_augment({"gaussian_noise": -0.1}), "data.augment[0].gaussian_noise"),
    "noise-unknown-argument": (with_augment({"gaussian_noise": {"sigma": 0.1}}), "data.augment[0].gaussian_noise.sigma"),
    "brightness-negative": (with_augment({"brightness": {"delta": -1}}), "data.augment[0].brightness.delta"),
    "contrast-above-1": (with_augment({"contrast": 2}), "data.augment[0].contrast"),
    "mixup-alpha-0": (with_augment({"mixup": 0}), "data.augment[0].mixup"),
    "unknown-augmentation": (with_augment("gaussian_nosie"), "data.augment[0]"),
}


@pytest.mark.parametrize("doc, where", BAD.values(), ids=BAD.keys())
def test_the_schema_rejects_bad_component_arguments(validator, doc, where):
    assert list(validator.iter_errors(doc)), f"the schema accepts {doc['train'] if 'train' in doc else doc['data']}"


@pytest.mark.parametrize("doc, where", BAD.values(), ids=BAD.keys())
def test_validate_rejects_the_same_inputs_located(cli, write, doc, where):
    path = write("bad.yaml", yaml.safe_dump(doc, sort_keys=False))
    r = cli("validate", path)
    assert r.code == 2, r.out + r.err
    assert "Traceback" not in r.err
    assert "bad.yaml:" in r.err and where in r.err, r.err


GOOD = {
    "bare-names": with_train(optimizer="adamw", schedule="onecycle", loss="cross_entropy"),
    "every-argument": with_train(optimizer={"name": "adamw", "lr": 3e-3, "weight_decay": 5e-4, "betas": [0.9, 0.99],
                                            "eps": 1e-8, "amsgrad": True},
                                 schedule={"name": "plateau", "monitor": "val.accuracy", "factor": 0.5, "patience": 2},
                                 loss={"name": "cross_entropy", "label_smoothing": 0.1}),
    "sgd-nesterov": with_train(optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True}),
    "interpolated": {**with_train(optimizer={"name": "adam", "lr": "${vars.lr}"}), "vars": {"lr": 0.01}},
    "null-loss": with_train(loss=None),
    "architecture-name": {**with_train(optimizer="adam"), "model": "logistic_regression"},
    "augment-forms": with_augment({"gaussian_noise": 0.05}, {"brightness": {"delta": 0.1}}, {"contrast": None}),
}


@pytest.mark.parametrize("doc", GOOD.values(), ids=GOOD.keys())
def test_the_schema_and_validate_accept_good_arguments(validator, cli, write, doc):
    assert [e.message for e in validator.iter_errors(doc)] == []
    r = cli("validate", write("good.yaml", yaml.safe_dump(doc, sort_keys=False)))
    assert r.code == 0, r.err


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_validate_rejects_infinite_and_nan_arguments(cli, write, value):
    """`.inf` noise used to validate and die at run time; every numeric argument must be finite."""
    path = write("inf.yaml", f"""
        data:
          source: iris
          augment: [{{gaussian_noise: {value}}}, {{brightness: {{delta: {value}}}}}]
        model: [{{linear: auto}}]
        train:
          optimizer: {{name: adam, lr: {value}, eps: {value}}}
          schedule: {{name: cosine, warmup: {value}}}
          loss: {{name: cross_entropy, label_smoothing: {value}}}
    """)
    r = cli("validate", path)
    assert r.code == 2, r.err
    for where in ("data.augment[0].gaussian_noise", "data.augment[1].brightness.delta", "train.optimizer.lr",
                  "train.optimizer.eps", "train.schedule.warmup", "train.loss.label_smoothing"):
        line = next((x for x in r.err.splitlines() if f" {where}: " in x), "")
        assert "inf.yaml:" in line and ("finite" in line or "less than" in line), (where, r.err)


def component_alternatives(schema: dict, key: str) -> dict:
    """name -> the object alternative the schema gives that registered name under train.<key>."""
    node = schema["$defs"]["Train"]["properties"][key]
    return {alt["properties"]["name"]["const"]: alt for alt in node["anyOf"]
            if alt.get("type") == "object" and "const" in alt.get("properties", {}).get("name", {})}


def registries():
    from dlcli.engine.optimizers import optimizers
    from dlcli.engine.schedules import schedules
    from dlcli.tasks.losses import losses

    return {"optimizer": optimizers, "schedule": schedules, "loss": losses}


@pytest.mark.parametrize("key", ["optimizer", "schedule", "loss"])
def test_the_schema_describes_every_component_and_argument(schema, key):
    registry = registries()[key]
    alternatives = component_alternatives(schema, key)
    assert sorted(alternatives) == registry.names()
    for name, alt in alternatives.items():
        fields = registry.get(name).Args.model_fields
        assert alt["additionalProperties"] is False and alt["required"] == ["name"], name
        assert set(alt["properties"]) == {"name", *fields}, name
        assert alt.get("description"), name
        for arg, field in fields.items():
            prop = alt["properties"][arg]
            if not field.is_required():
                assert "default" in prop, (name, arg)
            plain, interpolation = prop["anyOf"]  # the argument's own schema, or `${...}`
            assert plain.get("type") or plain.get("anyOf") or plain.get("enum"), (name, arg, prop)
            assert interpolation["type"] == "string" and "pattern" in interpolation


def test_the_schema_shows_real_bounds(schema):
    adam = component_alternatives(schema, "optimizer")["adam"]["properties"]
    lr = adam["lr"]["anyOf"][0]
    assert lr["type"] == "number" and lr["exclusiveMinimum"] == 0 and adam["lr"]["default"] == 1e-3
    assert adam["weight_decay"]["anyOf"][0]["minimum"] == 0
    assert all(b["minimum"] == 0 and b["exclusiveMaximum"] == 1 for b in adam["betas"]["anyOf"][0]["prefixItems"])
    sgd = component_alternatives(schema, "optimizer")["sgd"]["properties"]
    assert sgd["momentum"]["anyOf"][0]["exclusiveMaximum"] == 1
    ce = component_alternatives(schema, "loss")["cross_entropy"]["properties"]
    assert ce["label_smoothing"]["anyOf"][0]["exclusiveMaximum"] == 1


def augment_alternatives(schema: dict) -> dict:
    items = schema["$defs"]["Data"]["properties"]["augment"]["items"]["anyOf"]
    return {next(iter(alt["properties"])): alt for alt in items if alt.get("type") == "object"}


def test_the_schema_describes_every_augmentation(schema):
    from dlcli.data import augmentations

    alternatives = augment_alternatives(schema)
    assert sorted(alternatives) == augmentations.names()
    for name, alt in alternatives.items():
        args = augmentations.get(name).Args.model_fields
        assert alt["additionalProperties"] is False and alt["required"] == [name]
        mapping = next(a for a in alt["properties"][name]["anyOf"] if a.get("type") == "object")
        assert mapping["additionalProperties"] is False and set(mapping["properties"]) == set(args), name
        assert alt["properties"][name].get("description"), name
    noise = augment_alternatives(schema)["gaussian_noise"]["properties"]["gaussian_noise"]["anyOf"]
    main = [a for a in noise if a.get("default") == 0.05]  # the bare `gaussian_noise: 0.05`: its bound and default
    assert main and main[0]["anyOf"][0] == {"type": "number", "minimum": 0} and main[0]["description"]


def numeric_bounds(prop: dict) -> list[tuple[str, float]]:
    """(keyword, limit) of every numeric bound in an argument's (non-interpolated) schema."""
    return [(k, prop[k]) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in prop]


def just_outside(keyword: str, limit: float, integer: bool) -> float:
    step = 1 if integer else max(abs(limit) * 1e-3, 1e-3)
    return {"minimum": limit - step, "exclusiveMinimum": limit, "maximum": limit + step,
            "exclusiveMaximum": limit}[keyword]


@pytest.mark.parametrize("key", ["optimizer", "schedule", "loss"])
def test_every_bound_in_the_schema_is_one_validate_enforces(schema, key):
    """Walk every numeric bound of every argument: a value just past it fails both checks."""
    from pydantic import ValidationError

    registry = registries()[key]
    for name, alt in component_alternatives(schema, key).items():
        Args = registry.get(name).Args
        for arg, prop in alt["properties"].items():
            plain = prop.get("anyOf", [{}])[0]
            for keyword, limit in numeric_bounds(plain):
                value = just_outside(keyword, limit, plain.get("type") == "integer")
                assert not math.isinf(value)
                sub = jsonschema.Draft202012Validator(alt)
                assert list(sub.iter_errors({"name": name, arg: value})), (name, arg, value)
                with pytest.raises(ValidationError):
                    Args(**{arg: value})


def test_every_shipped_recipe_matches_the_schema(validator):
    from dlcli.recipe.yamlio import parse

    for recipe in sorted((ROOT / "recipes").glob("*.yaml")):
        doc, _ = parse(recipe.read_text(), str(recipe))
        assert [e.message for e in validator.iter_errors(doc)] == [], recipe.name


def refs_in(node) -> set[str]:
    """Every `$ref` target under a schema node."""
    if isinstance(node, list):
        return set().union(*map(refs_in, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    own = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
    return own.union(*map(refs_in, node.values()))


def test_the_schema_names_every_definition_plainly(schema):
    """Two models of one name would be emitted as `dlcli__recipe__schema__X__1` in an editor."""
    import re

    defs = schema["$defs"]
    assert [k for k in defs if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", k)] == []
    assert {"ParityTolerance", "CheckTolerance"} <= set(defs)
    assert refs_in(defs["Onnx"]["properties"]["tolerance"]) == {"#/$defs/ParityTolerance"}
    assert refs_in(defs["Check"]["properties"]["tolerance"]) == {"#/$defs/CheckTolerance"}
    assert refs_in(schema) <= {f"#/$defs/{k}" for k in defs}
