"""The parts a checked recipe carries, parsed once: the task (with its arguments), one plan per
network it declares, the loss, an optimizer and a schedule per role, the callbacks. The engine
builds from these and never parses a component again."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Optional

from dlcli.errors import Path, Problem
from dlcli.registry import UnknownName


@dataclass
class Parts:
    task: Any = None  # a Task instance carrying its parsed arguments
    plans: dict = field(default_factory=dict)  # network name -> ModelPlan
    loss: Optional[tuple] = None  # (entry, args)
    optimizers: dict = field(default_factory=dict)  # role -> (entry, args)
    schedules: dict = field(default_factory=dict)  # role -> (entry, args)
    callbacks: list = field(default_factory=list)  # (entry class, args)


def is_text(info: Any) -> bool:
    """Token ids with no labels: a text, which only a language model reads (labelled token data,
    like balanced parentheses, feeds the supervised tasks)."""
    return getattr(info, "vocab", None) is not None and getattr(info, "labels", None) is None


def infer_task(info: Any) -> tuple[Optional[str], Optional[str]]:
    """(task name, None) of the registered task inferred from the data's labels, or (None, why not)."""
    from dlcli.tasks import tasks

    labels = "tokens" if is_text(info) else getattr(info, "labels", None)
    named = [n for n in tasks.names() if tasks.get(n).needs.infer_from == labels and labels is not None]
    if named:
        return named[0], None
    free = [n for n in tasks.names() if None in tasks.get(n).needs.labels]
    return None, f"the data has no labels, so no task can be inferred: name one with `task:` ({', '.join(free)})"


def check_task(doc: dict, info: Any, problems: list[Problem]) -> Optional[Any]:
    """The task instance (written, or inferred from the data), with its needs checked."""
    from dlcli.recipe.entries import check_component
    from dlcli.tasks import tasks

    value = doc.get("task")
    if value is None:
        if info is None:
            return None
        name, why = infer_task(info)
        if name is None:
            problems.append(Problem(("task",), why))
            return None
        value = name
    entry, args = check_component(tasks, value, ("task",), problems)
    if args is None:
        return None
    task = type(entry)(args)
    task.name = task_name(doc, value)
    refusal = task.needs.refusal(info.labels, is_text(info)) if info is not None else None
    if refusal:
        problems.append(Problem(("task",), f"the {task.name} task cannot train on this data: {refusal}"))
    elif info is not None:
        problems.extend(Problem(("task", *at), message) for at, message in task.data_problems(info))
    return task


def task_name(doc: dict, value: Any) -> str:
    from dlcli.components import split_component

    try:
        return split_component(value)[0]
    except ValueError:
        return str(value)


def network_specs(doc: dict, task: Any, problems: list[Problem]) -> dict[str, tuple[Any, Path, int]]:
    """network name -> (its spec in the recipe, its key path, the index of its first layer there):
    `model` for a task with one network (or one split at the task's marker layer), `models.<name>`
    otherwise; a missing or unknown network is a problem."""
    names = list(task.network_names())
    models = doc.get("models")
    if models is None and "model" in doc and len(names) == 1:
        return {names[0]: (doc["model"], ("model",), 0)}
    if models is None and "model" in doc and task.split_at:
        return split_model(doc["model"], task, problems)
    if "model" in doc and models is None:
        problems.append(Problem(("model",), f"this task trains {len(names)} networks ({', '.join(names)}): "
                                f"write them under `models:`, one entry each"))
        return {}
    if models is None:
        if len(names) == 1:
            problems.append(Problem(("model",), "required key is missing"))
        else:
            problems.append(Problem(("models",), f"required key is missing: the {task.name} task trains "
                                    f"{', '.join(names)}, one entry each"))
        return {}
    if not isinstance(models, dict):
        problems.append(Problem(("models",), f"expected a mapping of network name -> layers ({', '.join(names)}), "
                                f"got {type(models).__name__}"))
        return {}
    if "model" in doc:
        problems.append(Problem(("model",), "give the networks under `models:` or one `model:`, not both"))
    for key in models:
        if key not in names:
            e = UnknownName("network", str(key), names)
            problems.append(Problem(("models", key), f"{e.message}: this task trains {', '.join(names)}", e.suggestion))
    for name in names:
        if name not in models:
            problems.append(Problem(("models",), f"the task needs a network `{name}`: add models.{name}"))
    return {n: (models[n], ("models", n), 0) for n in names if n in models}


def split_model(spec: Any, task: Any, problems: list[Problem]) -> dict[str, tuple[Any, Path, int]]:
    """One `model:` list cut at the task's marker layer into its two networks, each keeping the
    key paths of its layers in the list (and the list's `init`)."""
    marker, (first, second) = task.split_at, task.network_names()
    layers, at, init = spec, ("model",), None
    if isinstance(spec, dict) and isinstance(spec.get("layers"), list) and set(spec) <= {"layers", "init"}:
        layers, at, init = spec["layers"], ("model", "layers"), spec.get("init")
    both = f"models: {{{first}: [...], {second}: [...]}}"
    if not isinstance(layers, list):
        problems.append(Problem(("model",), f"one model for the {task.name} task is a list of layers with a "
                                f"`{marker}` where the {first} ends and the {second} begins; or write {both}"))
        return {}
    marks = [i for i, item in enumerate(layers) if item == marker or (isinstance(item, dict) and list(item) == [marker])]
    if len(marks) != 1:
        where = at + (marks[1],) if marks else at
        problems.append(Problem(where, f"one model for the {task.name} task needs exactly one `{marker}` layer (where "
                                f"the {first} ends and the {second} begins), found {len(marks)}; or write {both}"))
        return {}
    k, where = marks[0], at if init is None else ("model",)  # {layers, init}: plan_model walks into `layers`
    part = (lambda items: items) if init is None else (lambda items: {"layers": items, "init": init})
    return {first: (part(layers[:k]), where, 0), second: (part(layers[k + 1:]), where, k + 1)}


def check_roles(doc: dict, key: str, task: Any, default: Any, problems: list[Problem]) -> dict:
    """role -> (entry, args) for train.<key> (optimizer or schedule): one spec for every role, or a
    mapping role -> spec (roles left out take the task's default). The specs each role trains with
    are written back into the document, so a run's recipe.yaml says them."""
    from dlcli.recipe.entries import check_component

    registry, roles = role_registry(key), list(task.optimizers())
    train = doc.get("train") if isinstance(doc.get("train"), dict) else None
    value = (train or {}).get(key)
    per_role = is_per_role(value, roles)
    if per_role:
        for k in value:
            if k not in roles:
                e = UnknownName("optimizer role", str(k), roles)
                problems.append(Problem(("train", key, k), f"{e.message}: this task's roles are {', '.join(roles)}",
                                        e.suggestion))
    specs = {role: with_default(value.get(role) if per_role else value, default(role)) for role in roles}
    where = {role: ("train", key) + ((role,) if per_role and role in value else ()) for role in roles}
    parsed = {role: check_component(registry, specs[role], where[role], problems) for role in roles}
    if train is not None and all(args is not None for _, args in parsed.values()):
        train[key] = written(specs)
    return parsed


def is_per_role(value: Any, roles: list) -> bool:
    """{generator: {...}, discriminator: {...}}, not {name: adam, lr: ...} nor {lr: ...}."""
    if not isinstance(value, dict) or "name" in value or not value:
        return False
    specs = all(isinstance(v, (dict, str)) for v in value.values())
    return specs and (any(k in roles for k in value) or len(roles) > 1 and all(isinstance(v, dict) for v in value.values()))


def written(specs: dict) -> Any:
    """One spec when every role has the same, else role -> spec; `adam` written as {name: adam}."""
    full = {role: {"name": spec} if isinstance(spec, str) else spec for role, spec in specs.items()}
    first = next(iter(full.values()))
    return first if all(spec == first for spec in full.values()) else full


def with_default(value: Any, default: Any) -> Any:
    """The spec a role trains with: the written one; the default when none; the default's name and
    arguments under written arguments that name no component (`--set train.optimizer.lr=0.1`).
    A mapping with a mistyped `name` key is left as written, for the message that says so."""
    if value is None:
        return default
    if isinstance(value, dict) and "name" not in value and not difflib.get_close_matches("name", map(str, value), 1, 0.7):
        base = {"name": default} if isinstance(default, str) else dict(default)
        return {**base, **value}
    return value


def role_registry(key: str) -> Any:
    from dlcli.vocab import registry

    return registry({"optimizer": "optimizers", "schedule": "schedules"}[key])


def check_callbacks(doc: dict, problems: list[Problem], task: Any = None) -> list:
    """train.callbacks, in the layer grammar (`grad_norm`, `{probe: {samples: 512}}`): (entry
    class, args) each; a callback may refuse the task (`refuses(task)` says why)."""
    from dlcli.engine.recorders import callbacks  # the registry, with the recorders registered
    from dlcli.grammar import parse_item
    from dlcli.recipe.entries import check_component

    train = doc.get("train") if isinstance(doc.get("train"), dict) else {}
    out = []
    for i, item in enumerate(train.get("callbacks") or []):
        at = ("train", "callbacks", i)
        try:
            name, args, _ = parse_item(item, callbacks, "callback")
        except UnknownName as e:
            problems.append(Problem(at, e.message, e.suggestion))
            continue
        except ValueError as e:
            problems.append(Problem(at, str(e)))
            continue
        entry, parsed = check_component(callbacks, {"name": name, **args}, at, problems)
        why = entry.refuses(task) if entry is not None and task is not None and hasattr(entry, "refuses") else None
        if why:
            problems.append(Problem(at, why))
        elif parsed is not None:
            out.append((type(entry), parsed))
    return out


def check_written_components(doc: dict, problems: list[Problem]) -> None:
    """The optimizer and schedule as written, when the task is unknown (the data could not be
    read): a mistyped name is still found in the same run."""
    from dlcli.recipe.entries import check_component

    train = doc.get("train") if isinstance(doc.get("train"), dict) else {}
    for key in ("optimizer", "schedule"):
        value = train.get(key)
        if names_itself(value):
            check_component(role_registry(key), value, ("train", key), problems)
        elif isinstance(value, dict) and "name" not in value and all(isinstance(v, dict) for v in value.values()):
            for role, spec in value.items():
                check_component(role_registry(key), spec, ("train", key, role), problems)


def names_itself(value: Any) -> bool:
    """A spec checked as written: a name, or a mapping with a `name` (or a mistyped one)."""
    return isinstance(value, str) or (isinstance(value, dict) and with_default(value, "-") is value)
