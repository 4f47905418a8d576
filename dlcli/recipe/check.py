"""Load, compose and check a recipe: every problem in one RecipeError, each one located.

Checks go beyond the schema: registry names and their arguments, data files, the task, every
layer's inferred shape, augmentations against the data, and monitored metric names. None of it
imports torch.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Optional

from pydantic import ValidationError

from dlcli.components import AmbiguousName, split_component, split_source
from dlcli.errors import Path, Problem, RecipeError
from dlcli.recipe.compose import compose
from dlcli.recipe.interpolate import lookup
from dlcli.recipe.problems import from_validation_error
from dlcli.recipe.schema import Recipe
from dlcli.registry import Registry, UnknownName


@dataclass
class Resolved:
    """A checked recipe: the model, the plain document, where it lives, its data and network."""

    recipe: Recipe
    doc: dict
    path: FsPath
    info: Any  # DataInfo
    plan: Any  # ModelPlan
    task: str
    warnings: list[str] = field(default_factory=list)  # located, e.g. YAML that other tools reject

    @property
    def base(self) -> FsPath:
        return self.path.parent


def check_component(registry: Registry, value: Any, path: Path, problems: list[Problem],
                    split: Any = split_component, key: str = "name") -> tuple[Any, Any]:
    """(entry, parsed args) of `name` or `{name: ..., args}`; (None, None) after a problem.
    `key` is the mapping key that names the entry (data.source writes `type`)."""
    try:
        name, args = split(value)
        entry = registry.get(name)()
    except UnknownName as e:
        named = [k for k in ("name", "type") if isinstance(value, dict) and k in value][:1]
        problems.append(Problem(path + tuple(named), e.message, e.suggestion))
        return None, None
    except AmbiguousName as e:
        problems.append(Problem(path, str(e)))
        return None, None
    except ValueError:
        problems.append(unnamed(registry, value, path, key))
        return None, None
    try:
        return entry, entry.Args(**args)
    except ValidationError as e:
        problems.extend(from_validation_error(e, path, entry.Args))
        return entry, None


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _arguments(registry: Registry) -> set[str]:
    """Every argument name of every entry (entries without an argument model have none)."""
    models = [getattr(registry.get(name), "Args", None) for name in registry.names()]
    return {key for m in models if m is not None for key in getattr(m, "model_fields", {})}


def unnamed(registry: Registry, value: Any, path: Path, key: str = "name") -> Problem:
    """Why `value` names no entry of `registry`: a mistyped `name` key, none at all, or the wrong type."""
    kind = registry.kind
    if not isinstance(value, dict):
        return Problem(path, f"expected {_a(kind)} name or a mapping with a `{key}` key, got {value!r}")
    if key in value:  # there, but not a string
        return Problem(path + (key,), f"expected {_a(kind)} name, got {value[key]!r}")
    # only keys that are no entry's argument, and 0.7, not closest()'s 0.5: `paht` is no mistyped `type`
    typo = difflib.get_close_matches(key, [k for k in value if isinstance(k, str) and k not in _arguments(registry)],
                                     1, 0.7)
    if typo:
        return Problem(path + (typo[0],), f"unknown key '{typo[0]}'", key)
    return Problem(path, f"a mapping here needs a `{key}` key naming {_a(kind)}: one of {', '.join(registry.names())}")


def check_source(doc: dict, base: FsPath, problems: list[Problem]) -> tuple[Any, Any, Any]:
    """(source, args, DataInfo) of data.source, or Nones after a problem."""
    from dlcli.data import sources
    from dlcli.data.base import SourceError

    value = (doc.get("data") or {}).get("source") if isinstance(doc.get("data"), dict) else None
    if value is None:
        return None, None, None
    path = ("data", "source")
    source, args = check_component(sources, value, path, problems, split_source, key="type")
    if args is None:
        return None, None, None
    try:
        return source, args, source.info(args, base, task=doc.get("task"))
    except SourceError as e:
        problems.append(Problem(path + ((e.key,) if e.key and isinstance(value, dict) else ()), str(e)))
    return None, None, None


def _schema(doc: dict, problems: list[Problem]) -> Optional[Recipe]:
    try:
        return Recipe(**doc)
    except ValidationError as e:
        problems.extend(from_validation_error(e, (), Recipe))
        return None
    except TypeError:  # a key that is not a string (`1: x`) cannot name a section
        problems.extend(Problem((key,), f"a top-level key names a section (data, model, train, ...), got {key!r}")
                        for key in doc if not isinstance(key, str))
        return None


def _train_section(doc: dict) -> dict:
    train = doc.get("train")
    return train if isinstance(train, dict) else {}


def check_optimisation(doc: dict, problems: list[Problem]) -> None:
    """Optimizer and schedule names with their arguments: they need no task, so bad data hides none."""
    from dlcli.engine.optimizers import optimizers
    from dlcli.engine.schedules import schedules

    train = _train_section(doc)
    check_component(optimizers, train.get("optimizer"), ("train", "optimizer"), problems)
    check_component(schedules, train.get("schedule"), ("train", "schedule"), problems)


def check_training(doc: dict, task: str, problems: list[Problem]) -> Any:
    """The loss for the task, with its arguments; returns the Loss entry."""
    from dlcli.tasks import tasks
    from dlcli.tasks.losses import losses

    train = _train_section(doc)
    t = tasks.get(task)
    loss, _ = check_component(losses, train.get("loss") or t.default_loss, ("train", "loss"), problems)
    if loss is not None and loss.task != task:
        problems.append(Problem(("train", "loss"), f"a {loss.task} loss cannot train a {task} task"))
    return loss


def check_metrics(doc: dict, task: str, problems: list[Problem], info: Any = None) -> None:
    from dlcli.tasks import tasks
    from dlcli.tasks.metrics import metrics

    train = _train_section(doc)
    written = train.get("metrics") or tasks.get(task).default_metrics
    written = written if isinstance(written, list) else []
    names = [n for n in written if isinstance(n, str)]  # the schema reports the others
    for i, name in enumerate(written):
        if not isinstance(name, str):
            continue
        if name not in metrics:
            e = UnknownName("metric", name, metrics.names())
            problems.append(Problem(("train", "metrics", i), e.message, e.suggestion))
        elif metrics.get(name).task != task:
            problems.append(Problem(("train", "metrics", i), f"'{name}' is a {metrics.get(name).task} metric, the task is {task}"))
    empty = empty_splits(doc, info)
    valid = ["train.loss"]
    if _split_fraction(doc, "val") > 0:
        valid += ["val.loss"] + [f"val.{n}" for n in names if n in metrics and metrics.get(n).scalar]
    for path in (("train", "early_stopping", "monitor"), ("train", "schedule", "monitor")):
        check_monitor(doc, path, valid, problems, empty)
    for path in objective_paths(doc):
        check_monitor(doc, path, valid + ["params"], problems, empty)
    check_locked_metrics(doc, [n for n in names if n in metrics and metrics.get(n).scalar], problems, empty)


def check_locked_metrics(doc: dict, names: list[str], problems: list[Problem], empty: Optional[dict] = None) -> None:
    """check.metrics name final metrics: <split>.loss or <split>.<metric> of a non-empty split."""
    try:
        chosen = lookup(doc, ("check", "metrics"))
    except (KeyError, TypeError):
        return
    splits = ["train"] + [s for s in ("val", "test") if _split_fraction(doc, s) > 0]
    valid = [f"{s}.{n}" for s in splits for n in ["loss", *names]]
    keys = list(chosen) if isinstance(chosen, (list, dict)) else []
    for i, name in enumerate(keys):
        where = ("check", "metrics", name if isinstance(chosen, dict) else i)
        if not isinstance(name, str):
            continue  # the schema says what a metric name is
        if name in valid and (empty or {}).get(name.split(".")[0]):
            problems.append(Problem(where, f"{name} is never computed: {empty[name.split('.')[0]]}, or leave it out"))
        elif name not in valid:
            e = UnknownName("metric", str(name), valid)
            problems.append(Problem(where, f"{e.message.split(';')[0]}: final metrics are {', '.join(valid)}", e.suggestion))


def objective_paths(doc: dict) -> list[Path]:
    """Key paths of the search objectives' metrics (one objective or a list)."""
    try:
        objective = lookup(doc, ("search", "objective"))
    except (KeyError, TypeError):
        return []
    if isinstance(objective, list):
        return [("search", "objective", i, "metric") for i in range(len(objective))]
    return [("search", "objective", "metric")]


def check_monitor(doc: dict, path: Path, valid: list[str], problems: list[Problem],
                  empty: Optional[dict] = None) -> None:
    """The metric at `path` is one that training logs; `empty` maps splits without samples to why."""
    try:
        monitor = lookup(doc, path)
    except (KeyError, TypeError):
        return
    split = str(monitor).split(".")[0]
    if monitor in valid and (empty or {}).get(split):
        problems.append(Problem(path, f"{monitor} is never logged: {empty[split]}, or monitor train.loss"))
    elif monitor not in valid:
        near = [v for v in valid if v.split(".")[-1] == str(monitor).split(".")[-1]] or None
        e = UnknownName("metric", str(monitor), valid)
        problems.append(Problem(path, f"{e.message.split(';')[0]}: logged metrics are {', '.join(valid)}",
                                (near or [e.suggestion])[0]))


def _split_fraction(doc: dict, split: str) -> float:
    try:
        return float(lookup(doc, ("data", "split", split)))
    except (KeyError, TypeError, ValueError):
        return 0.1  # the schema's default for val and test


def empty_splits(doc: dict, info: Any) -> dict[str, str]:
    """Splits that hold no sample of this data although data.split gives them a share: split -> why
    and what to change. Fractions are rounded as dlcli/data/splits.py rounds them; a hash split's
    sizes, or data whose size `info` does not tell, are not known here and give nothing."""
    from dlcli.data.splits import PARTS, split_sizes

    split = lookup(doc, ("data", "split")) if _exists(doc, ("data", "split")) else {}
    if split == "given" or (isinstance(split, dict) and split.get("method") == "given"):
        given = getattr(info, "given", None)  # part -> samples, as the data comes
        return {p: f"the data's given split has no {p} samples: add {p} rows to the data"
                for p in ("val", "test") if isinstance(given, dict) and not given.get(p)}
    n = getattr(info, "samples", None)  # how many samples there are, where the source tells it cheaply
    if not isinstance(n, int) or isinstance(n, bool) or not isinstance(split, dict) or split.get("method") == "hash":
        return {}
    defaults = {"train": 0.8, "val": 0.1, "test": 0.1}  # the schema's (data.split)
    try:
        ratios = {p: float(split.get(p, defaults[p])) for p in PARTS}
        sizes = dict(zip(PARTS, split_sizes(n, *ratios.values())))
    except (TypeError, ValueError):
        return {}  # ratios the schema refuses, with its own message
    return {p: f"the {p} split holds 0 of the {n} samples (data.split.{p}: {ratios[p]:g}): raise data.split.{p}"
            for p in PARTS if ratios[p] > 0 and sizes[p] == 0}


def check_data_extras(doc: dict, info: Any, problems: list[Problem]) -> None:
    from dlcli.data import augment, normalizers

    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    norm = data.get("normalize", "standard")
    if isinstance(norm, str) and norm not in normalizers:
        e = UnknownName("normalization", norm, normalizers.names())
        problems.append(Problem(("data", "normalize"), e.message, e.suggestion))
    items = data.get("augment") or []
    if isinstance(items, list):  # without data info, names and arguments are still checked
        for suffix, message, suggestion in augment.check(items, info):
            problems.append(Problem(("data", "augment") + tuple(suffix), message, suggestion))


def component_field(doc: dict, path: Path) -> bool:
    """Whether `path` names an argument of a component (train.optimizer.lr with optimizer adam)."""
    from dlcli.engine.optimizers import optimizers
    from dlcli.engine.schedules import schedules
    from dlcli.tasks.losses import losses

    registries = {("train", "optimizer"): optimizers, ("train", "schedule"): schedules, ("train", "loss"): losses}
    if len(path) != 3 or path[:2] not in registries:
        return False
    try:
        name = lookup(doc, path[:2] + ("name",))
        return path[2] in registries[path[:2]].get(name).Args.model_fields
    except (KeyError, TypeError, UnknownName):
        return False


def check_search(doc: dict, recipe: Optional[Recipe], problems: list[Problem]) -> None:
    search = doc.get("search")
    if not isinstance(search, dict) or not isinstance(search.get("space"), dict):
        return
    full = recipe.model_dump() if recipe else doc
    for key, dist in search["space"].items():
        path = tuple(int(p) if p.isdigit() else p for p in str(key).split("."))
        if not (_exists(doc, path) or _exists(full, path) or component_field(doc, path)):
            problems.append(Problem(("search", "space", key), f"'{key}' is not a path in the recipe"))
        grid_ok = isinstance(dist, dict) and ("choices" in dist or "step" in dist)
        if search.get("sampler") == "grid" and not grid_ok:
            problems.append(Problem(("search", "space", key), "the grid sampler needs `choices` or a `step` for every parameter"))
    check_names(search, problems)
    if isinstance(search.get("objective"), list) and search.get("pruner") not in (None, "none"):
        problems.append(Problem(("search", "pruner"), "pruning needs a single objective: set pruner: none "
                                "for a multi-objective search"))


def check_names(search: dict, problems: list[Problem]) -> None:
    from dlcli.search.pruners import pruners
    from dlcli.search.samplers import samplers

    for key, registry in (("sampler", samplers), ("pruner", pruners)):
        name = search.get(key)
        if isinstance(name, str) and name not in registry:
            e = UnknownName(key, name, registry.names())
            problems.append(Problem(("search", key), e.message, e.suggestion))


def _exists(tree: Any, path: Path) -> bool:
    try:
        lookup(tree, path)
        return True
    except (KeyError, TypeError):
        return False


def locate(problems: list[Problem], marks: dict, source: str) -> None:
    """Fill in each problem's file:line:col from the nearest marked ancestor of its key path
    (the top of the recipe file for a section that is missing)."""
    for p in problems:
        if p.where:
            continue
        p.where = next((marks[p.path[:n]] for n in range(len(p.path), 0, -1) if p.path[:n] in marks), f"{source}:1:1")


def check_network(doc: dict, info: Any, loss: Any, problems: list[Problem]) -> Any:
    from dlcli.nn.model import plan_model

    if "model" not in doc:
        return None
    if info is None:  # the data could not be read: layer names and arguments are still checked
        problems.extend(plan_model(doc["model"], None, None).ctx.problems)
        return None
    outputs = loss.outputs(info.outputs) if loss is not None and info.outputs else info.outputs
    plan = plan_model(doc["model"], tuple(info.input_shape), outputs)
    problems.extend(plan.ctx.problems)
    if loss is not None and plan.out_shape is not None:  # None: a layer's shape problem is reported already
        check_head(plan, info, loss, problems)
    return plan


def check_head(plan: Any, info: Any, loss: Any, problems: list[Problem]) -> None:
    """The network ends in one score per class (or what the loss asks for: bce's one logit for two
    classes) or one value per target; located at its last layer, with the fix."""
    from dlcli.nn.base import fmt

    n = info.outputs
    if not n or not plan.nodes:
        return
    wanted = {loss.outputs(n), n} if info.task == "classification" else {loss.outputs(n)}
    out = plan.out_shape
    if isinstance(out, tuple) and len(out) == 1 and out[0] in wanted:
        return
    last = plan.nodes[-1]
    if info.task == "classification":
        alone = f", or {loss.outputs(n)} for this loss" if len(wanted) > 1 else ""
        need = f"one score per class ({n} classes){alone}"
    else:
        need = f"one value per target ({n} target{'s' if n != 1 else ''})"
    problems.append(Problem(last.path, f"the network must end in {need}, but its last layer gives {fmt(out)} per "
                            f"sample: {head_fix(out, last)}"))


def head_fix(out: Any, last: Any) -> str:
    """What to write so that the last layer gives a vector of the right size."""
    if isinstance(out, list):
        return "end it with `select: i` and `linear: auto`"
    if len(out) > 1:
        return "add `flatten` before the last linear" if last.name == "linear" else \
            "end it with `flatten` and `linear: auto`"
    return "use `linear: auto`" if last.name == "linear" else "end it with `linear: auto`"


def check_consistency(doc: dict, loss: Any, plan: Any, problems: list[Problem]) -> None:
    """Rules that span sections: mixup needs soft-target losses; token ids must not be normalised."""
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    items = data.get("augment") if isinstance(data.get("augment"), list) else []
    for i, item in enumerate(items):
        name = item if isinstance(item, str) else next(iter(item), None) if isinstance(item, dict) else None
        if name == "mixup" and loss is not None and not loss.soft_targets:
            problems.append(Problem(("data", "augment", i), "mixup makes soft targets, which this loss cannot take; "
                                    "use cross_entropy, nll or bce"))
    from dlcli.nn.model import reads_token_ids

    if plan is not None and reads_token_ids(plan) and data.get("normalize", "standard") != "none":
        problems.append(Problem(("data", "normalize"), "the model's embedding looks up the data's token ids, which "
                                "normalisation would destroy: set data.normalize: none"))


def resolve_paths(doc: dict, args: Any, base: FsPath) -> None:
    """Data file paths become absolute, so the run directory's recipe.yaml stands alone."""
    source = doc["data"]["source"]
    if isinstance(source, dict) and isinstance(source.get("path"), str):
        source["path"] = str((base / source["path"]).resolve())


def _position(p: Problem) -> tuple:
    """Sort key: file order (file, line, column), then --set overrides."""
    parts = (p.where or "").rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return (0, parts[0], int(parts[1]), int(parts[2]))
    return (1, p.where or "", 0, 0)


def load_recipe(path: FsPath | str, overrides: list[str] = ()) -> Resolved:
    """The checked recipe at `path`; a RecipeError listing every problem otherwise."""
    import dlcli.nn  # noqa: F401  (fills the layer registries)
    from dlcli.data.partition import recipe_problems as split_problems

    path = FsPath(path)
    try:
        found = path.is_file()
    except OSError as e:  # a name too long for the file system, ...
        short = str(path) if len(str(path)) <= 120 else str(path)[:60] + "..." + str(path)[-40:]
        raise RecipeError([Problem((), f"cannot read the recipe: {e.strerror or e}", where=short)], short) from None
    if not found:
        raise RecipeError([Problem((), f"recipe not found: {path}")], str(path))
    warnings: list[str] = []
    doc, marks, problems = compose(path, overrides, warnings)
    doc.setdefault("name", path.stem)
    recipe = _schema(doc, problems)
    source, args, info = check_source(doc, path.parent, problems)
    task = doc.get("task") if doc.get("task") in ("classification", "regression") else (info.task if info else None)
    check_optimisation(doc, problems)
    loss = check_training(doc, task, problems) if task else None
    if task:
        check_metrics(doc, task, problems, info)
    check_data_extras(doc, info, problems)
    problems.extend(split_problems(recipe, info, task))
    plan = check_network(doc, info, loss, problems)
    check_consistency(doc, loss, plan, problems)
    check_search(doc, recipe, problems)
    if problems:
        locate(problems, marks, str(path))
        raise RecipeError(sorted(problems, key=_position), str(path))
    resolve_paths(doc, args, path.parent)
    return Resolved(recipe, doc, path, info, plan, task, warnings)
