"""Load, compose and check a recipe: every problem in one RecipeError, each one located.

Checks go beyond the schema: registry names and their arguments, data files, the task, every
layer's inferred shape, augmentations against the data, and monitored metric names. None of it
imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any, Optional

from pydantic import ValidationError

from dlcli.components import split_component, split_source
from dlcli.errors import Path, Problem, RecipeError
from dlcli.recipe.compose import compose, lookup
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

    @property
    def base(self) -> FsPath:
        return self.path.parent


def check_component(registry: Registry, value: Any, path: Path, problems: list[Problem],
                    split: Any = split_component) -> tuple[Any, Any]:
    """(entry, parsed args) of `name` or `{name: ..., args}`; (None, None) after a problem."""
    try:
        name, args = split(value)
        entry = registry.get(name)()
    except UnknownName as e:
        key = [k for k in ("name", "type") if isinstance(value, dict) and k in value][:1]
        problems.append(Problem(path + tuple(key), e.message, e.suggestion))
        return None, None
    except ValueError as e:
        problems.append(Problem(path, str(e)))
        return None, None
    try:
        return entry, entry.Args(**args)
    except ValidationError as e:
        problems.extend(from_validation_error(e, path, entry.Args))
        return entry, None


def check_source(doc: dict, base: FsPath, problems: list[Problem]) -> tuple[Any, Any, Any]:
    """(source, args, DataInfo) of data.source, or Nones after a problem."""
    from dlcli.data import sources
    from dlcli.data.base import SourceError

    value = (doc.get("data") or {}).get("source") if isinstance(doc.get("data"), dict) else None
    if value is None:
        return None, None, None
    path = ("data", "source")
    source, args = check_component(sources, value, path, problems, split_source)
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
    except TypeError as e:
        problems.append(Problem((), str(e)))
        return None


def _train_section(doc: dict) -> dict:
    train = doc.get("train")
    return train if isinstance(train, dict) else {}


def check_training(doc: dict, task: str, problems: list[Problem]) -> Any:
    """Optimizer, schedule, loss and metric names with their arguments; returns the Loss entry."""
    from dlcli.engine.optimizers import optimizers
    from dlcli.engine.schedules import schedules
    from dlcli.tasks import tasks
    from dlcli.tasks.losses import losses

    train = _train_section(doc)
    t = tasks.get(task)
    check_component(optimizers, train.get("optimizer"), ("train", "optimizer"), problems)
    check_component(schedules, train.get("schedule"), ("train", "schedule"), problems)
    loss, _ = check_component(losses, train.get("loss") or t.default_loss, ("train", "loss"), problems)
    if loss is not None and loss.task != task:
        problems.append(Problem(("train", "loss"), f"a {loss.task} loss cannot train a {task} task"))
    return loss


def check_metrics(doc: dict, task: str, problems: list[Problem]) -> None:
    from dlcli.tasks import tasks
    from dlcli.tasks.metrics import metrics

    train = _train_section(doc)
    names = train.get("metrics") or tasks.get(task).default_metrics
    for i, name in enumerate(names if isinstance(names, list) else []):
        if name not in metrics:
            e = UnknownName("metric", name, metrics.names())
            problems.append(Problem(("train", "metrics", i), e.message, e.suggestion))
        elif metrics.get(name).task != task:
            problems.append(Problem(("train", "metrics", i), f"'{name}' is a {metrics.get(name).task} metric, the task is {task}"))
    valid = ["train.loss"]
    if _split_fraction(doc, "val") > 0:
        valid += ["val.loss"] + [f"val.{n}" for n in names if n in metrics and metrics.get(n).scalar]
    for path in (("train", "early_stopping", "monitor"), ("train", "schedule", "monitor")):
        check_monitor(doc, path, valid, problems)
    for path in objective_paths(doc):
        check_monitor(doc, path, valid + ["params"], problems)
    check_locked_metrics(doc, [n for n in names if n in metrics and metrics.get(n).scalar], problems)


def check_locked_metrics(doc: dict, names: list[str], problems: list[Problem]) -> None:
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
        if name not in valid:
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


def check_monitor(doc: dict, path: Path, valid: list[str], problems: list[Problem]) -> None:
    try:
        monitor = lookup(doc, path)
    except (KeyError, TypeError):
        return
    if monitor not in valid:
        near = [v for v in valid if v.split(".")[-1] == str(monitor).split(".")[-1]] or None
        e = UnknownName("metric", str(monitor), valid)
        problems.append(Problem(path, f"{e.message.split(';')[0]}: logged metrics are {', '.join(valid)}",
                                (near or [e.suggestion])[0]))


def _split_fraction(doc: dict, split: str) -> float:
    try:
        return float(lookup(doc, ("data", "split", split)))
    except (KeyError, TypeError, ValueError):
        return 0.1  # the schema's default for val and test


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
    (the recipe file itself for a key that is missing at the top)."""
    for p in problems:
        if p.where:
            continue
        p.where = next((marks[p.path[:n]] for n in range(len(p.path), 0, -1) if p.path[:n] in marks), source)


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
    return plan


def check_consistency(doc: dict, loss: Any, plan: Any, problems: list[Problem]) -> None:
    """Rules that span sections: mixup needs soft-target losses; token ids must not be normalised."""
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    items = data.get("augment") if isinstance(data.get("augment"), list) else []
    for i, item in enumerate(items):
        name = item if isinstance(item, str) else next(iter(item), None) if isinstance(item, dict) else None
        if name == "mixup" and loss is not None and not loss.soft_targets:
            problems.append(Problem(("data", "augment", i), "mixup makes soft targets, which this loss cannot take; "
                                    "use cross_entropy, nll or bce"))
    first = plan.nodes[0].name if plan is not None and plan.nodes else None
    if first == "embedding" and data.get("normalize", "standard") != "none":
        problems.append(Problem(("data", "normalize"), "the model starts with an embedding of token ids, which "
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

    path = FsPath(path)
    if not path.is_file():
        raise RecipeError([Problem((), f"recipe not found: {path}")], str(path))
    doc, marks, problems = compose(path, overrides)
    doc.setdefault("name", path.stem)
    recipe = _schema(doc, problems)
    source, args, info = check_source(doc, path.parent, problems)
    task = doc.get("task") if doc.get("task") in ("classification", "regression") else (info.task if info else None)
    loss = check_training(doc, task, problems) if task else None
    if task:
        check_metrics(doc, task, problems)
    check_data_extras(doc, info, problems)
    plan = check_network(doc, info, loss, problems)
    check_consistency(doc, loss, plan, problems)
    check_search(doc, recipe, problems)
    if problems:
        locate(problems, marks, str(path))
        raise RecipeError(sorted(problems, key=_position), str(path))
    resolve_paths(doc, args, path.parent)
    return Resolved(recipe, doc, path, info, plan, task)
