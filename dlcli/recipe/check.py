"""Load, compose and check a recipe: every problem in one RecipeError, each one located.

Checks go beyond the schema: registry names and their arguments, data files, the task, every
layer's inferred shape, augmentations against the data, and monitored metric names. None of it
imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Optional

from pydantic import ValidationError

from dlcli.components import split_source
from dlcli.errors import Path, Problem, RecipeError
from dlcli.recipe.compose import compose
from dlcli.recipe.entries import check_component
from dlcli.recipe.interpolate import lookup
from dlcli.recipe.parts import (Parts, check_callbacks, check_roles, check_task, check_written_components,
                                network_specs, task_name)
from dlcli.recipe.problems import from_validation_error
from dlcli.recipe.schema import Recipe
from dlcli.registry import UnknownName


@dataclass
class Resolved:
    """A checked recipe: the model, the plain document, where it lives, its data, and its parts
    (task, network plans, loss, optimizers, schedules, callbacks) parsed once."""

    recipe: Recipe
    doc: dict
    path: FsPath
    info: Any  # DataInfo
    parts: Parts
    task: str  # the task's registered name
    warnings: list[str] = field(default_factory=list)  # located, e.g. YAML that other tools reject

    @property
    def base(self) -> FsPath:
        return self.path.parent

    @property
    def plan(self) -> Any:
        """The plan of the task's first network (the only one of a supervised task)."""
        return next(iter(self.parts.plans.values()))


def check_source(doc: dict, base: FsPath, problems: list[Problem], split: Any = None) -> tuple[Any, Any, Any]:
    """(source, args, DataInfo) of data.source, or Nones after a problem. `split` is the parsed
    data.split (None when the recipe did not parse), for sources that cut the parts themselves."""
    from dlcli.data import sources
    from dlcli.data.base import SourceError, split_kwargs

    value = (doc.get("data") or {}).get("source") if isinstance(doc.get("data"), dict) else None
    if value is None:
        return None, None, None
    path = ("data", "source")
    source, args = check_component(sources, value, path, problems, split_source, key="type")
    if args is None:
        return None, None, None
    try:
        return source, args, source.info(args, base, labels=labels_hint(doc), **split_kwargs(source, split))
    except SourceError as e:
        problems.append(Problem(path + ((e.key,) if e.key and isinstance(value, dict) else ()), str(e)))
    return None, None, None


def token_normalization(doc: dict, recipe: Optional[Recipe], info: Any, problems: list[Problem]) -> None:
    """Token ids are never normalised: data.normalize defaults to none for a text, and anything
    else written is a problem."""
    if getattr(info, "vocab", None) is None or not isinstance(doc.get("data"), dict):
        return
    written = doc["data"].get("normalize")
    if written is None:
        doc["data"]["normalize"] = "none"
        if recipe is not None:
            recipe.data.normalize = "none"
    elif written != "none":
        problems.append(Problem(("data", "normalize"), f"this data is the token ids of a text, which "
                                f"normalisation would destroy: leave data.normalize out (or write none), not {written!r}"))


def labels_hint(doc: dict) -> Optional[str]:
    """How a file's target column is read: as the written task needs it (class labels or values)."""
    from dlcli.tasks import tasks

    try:
        name = task_name(doc, doc["task"])
        return tasks.get(name).needs.hint
    except (KeyError, UnknownName, TypeError):
        return None


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


def check_training(doc: dict, task: Any, info: Any, problems: list[Problem]) -> Parts:
    """Loss, optimizers and schedules of every role, callbacks: the parts besides the networks."""
    parts = Parts(task=task)
    parts.optimizers = check_roles(doc, "optimizer", task, task.default_optimizer, problems)
    parts.schedules = check_roles(doc, "schedule", task, lambda role: "constant", problems)
    parts.callbacks = check_callbacks(doc, problems, task)
    if task.default_loss is not None:
        parts.loss = check_loss(doc, task, info, problems)
    elif _train_section(doc).get("loss") is not None:
        problems.append(Problem(("train", "loss"), "this task computes its own losses: leave train.loss out"))
    return parts


def check_loss(doc: dict, task: Any, info: Any, problems: list[Problem]) -> Optional[tuple]:
    """(entry, args) of the loss, which must take the data's labels."""
    from dlcli.tasks.losses import losses

    loss, args = check_component(losses, _train_section(doc).get("loss") or task.default_loss, ("train", "loss"), problems)
    labels = getattr(info, "labels", None) or task.needs.hint
    if loss is not None and labels is not None and loss.labels != labels:
        problems.append(Problem(("train", "loss"), f"this loss takes {WORDS[loss.labels]}, the data has {WORDS[labels]}"))
    return (loss, args) if args is not None else None


WORDS = {"classes": "class labels", "values": "real-valued targets", "sequences": "target token sequences"}


def check_metrics(doc: dict, task: Any, problems: list[Problem], info: Any = None) -> None:
    from dlcli.tasks.metrics import metrics

    train = _train_section(doc)
    if train.get("metrics") is not None and task.default_loss is None:
        problems.append(Problem(("train", "metrics"), f"this task reports its own metrics ({', '.join(task.logged('val'))}): "
                                "leave train.metrics out"))
        train = {}
    written = train.get("metrics") or task.default_metrics
    written = written if isinstance(written, list) else []
    labels = getattr(info, "labels", None) or task.needs.hint
    names = [n for n in written if isinstance(n, str)]  # the schema reports the others
    for i, name in enumerate(written):
        if not isinstance(name, str):
            continue
        if name not in metrics:
            e = UnknownName("metric", name, metrics.names())
            problems.append(Problem(("train", "metrics", i), e.message, e.suggestion))
        elif labels is not None and metrics.get(name).labels != labels:
            problems.append(Problem(("train", "metrics", i), f"'{name}' scores {WORDS[metrics.get(name).labels]}, "
                                    f"the data has {WORDS[labels]}"))
    empty = empty_splits(doc, info)
    scalars = [n for n in names if n in metrics and metrics.get(n).scalar]
    valid = [f"train.{n}" for n in task.logged("train")]
    if _split_fraction(doc, "val") > 0:
        valid += [f"val.{n}" for n in task.logged("val", scalars)]
    for path in (("train", "early_stopping", "monitor"), ("train", "schedule", "monitor")):
        check_monitor(doc, path, valid, problems, empty)
    for path in objective_paths(doc):
        check_monitor(doc, path, valid + ["params"], problems, empty)
    check_locked_metrics(doc, [n for n in task.logged("val", scalars) if n != "loss"], problems, empty)


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


def component_field(doc: dict, path: Path, task: Any = None) -> bool:
    """Whether `path` names an argument of a component: train.optimizer.lr (the written optimizer,
    or the task's default one), train.optimizer.<role>.lr for one role's."""
    from dlcli.vocab import written_with_args

    roles = list(task.optimizers()) if task is not None else []
    role = path[2] if len(path) == 4 and path[2] in roles else None
    key = path[:2] if role else path[:-1]
    vocabulary = written_with_args(key) if len(path) == (4 if role else 3) else None
    if vocabulary is None:
        return False
    name = written_name(doc, key + ((role,) if role else ()))
    if name is None and key == ("train", "optimizer") and task is not None:
        default = task.default_optimizer(role or roles[0])
        name = default if isinstance(default, str) else default.get("name")
    try:
        return path[-1] in vocabulary.registry().get(name).Args.model_fields
    except (TypeError, UnknownName, AttributeError):
        return False


def written_name(doc: dict, key: Path) -> Optional[str]:
    try:
        spec = lookup(doc, key)
    except (KeyError, TypeError):
        return None
    return spec if isinstance(spec, str) else spec.get("name") if isinstance(spec, dict) else None


def check_search(doc: dict, recipe: Optional[Recipe], problems: list[Problem], task: Any = None) -> None:
    search = doc.get("search")
    if not isinstance(search, dict) or not isinstance(search.get("space"), dict):
        return
    full = recipe.model_dump() if recipe else doc
    for key, dist in search["space"].items():
        path = tuple(int(p) if p.isdigit() else p for p in str(key).split("."))
        if not (_exists(doc, path) or _exists(full, path) or component_field(doc, path, task)):
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


def check_networks(doc: dict, task: Any, info: Any, loss: Any, problems: list[Problem]) -> dict:
    """network name -> plan, each planned on the input shape the task gives it; without data info
    the layer names and arguments are still checked."""
    from dlcli.nn.model import plan_model

    specs = network_specs(doc, task, problems)
    declared = task.networks(info) if info is not None else {}
    plans = {}
    for name, (spec, at, first) in specs.items():
        net = declared.get(name)
        if info is None or net.memory is not None and getattr(plans.get(net.memory), "out_shape", None) is None:
            # no data, or an encoder that failed to plan: the layer names and arguments are still checked
            problems.extend(plan_model(spec, None, None, at, first).ctx.problems)
            continue
        auto = loss.outputs(net.auto) if loss is not None and net.auto and net.out_shape is None else net.auto
        vocab = len(info.vocab) if info.vocab is not None else None
        memory = plans[net.memory].out_shape if net.memory is not None else None
        plan = plans[name] = plan_model(spec, tuple(net.input_shape), auto, at, first, vocab, memory)
        problems.extend(plan.ctx.problems)
        if plan.out_shape is None:  # a layer's shape problem is reported already
            continue
        if net.out_shape is not None:
            check_out_shape(plan, name, net, problems)
        elif loss is not None:
            check_head(plan, info, loss, problems)
    if len(plans) == len(specs) and all(p.out_shape is not None for p in plans.values()):
        problems.extend(Problem(at, message) for at, message in task.plan_problems(plans))
    return plans


def check_out_shape(plan: Any, name: str, net: Any, problems: list[Problem]) -> None:
    """A network whose output the task fixes (a decoder gives back the input's shape)."""
    from dlcli.nn.base import fmt

    import math

    out, want = plan.out_shape, tuple(net.out_shape)
    flat = isinstance(out, tuple) and len(out) == 1 and out[0] == math.prod(want)
    if not plan.nodes or (isinstance(out, tuple) and (out == want or flat)):
        return
    problems.append(Problem(plan.nodes[-1].path, f"the {name} must give {fmt(tuple(net.out_shape))} per sample "
                            f"({net.about}), but its last layer gives {fmt(plan.out_shape)}: end it with "
                            f"`linear: auto` (and a `reshape` to the shape when it is not flat)"))


def check_head(plan: Any, info: Any, loss: Any, problems: list[Problem]) -> None:
    """The network ends in one score per class (or what the loss asks for: bce's one logit for two
    classes) or one value per target; located at its last layer, with the fix."""
    from dlcli.nn.base import fmt

    n = info.outputs
    if not n or not plan.nodes:
        return
    classes = info.labels == "classes"
    wanted = {loss.outputs(n), n} if classes else {loss.outputs(n)}
    out = plan.out_shape
    if isinstance(out, tuple) and len(out) == 1 and out[0] in wanted:
        return
    last = plan.nodes[-1]
    if classes:
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
    source, args, info = check_source(doc, path.parent, problems, getattr(getattr(recipe, "data", None), "split", None))
    token_normalization(doc, recipe, info, problems)
    task = check_task(doc, info, problems)
    parts = check_training(doc, task, info, problems) if task is not None else Parts()
    if task is None:
        check_written_components(doc, problems)
    if task is not None:
        check_metrics(doc, task, problems, info)
        parts.plans = check_networks(doc, task, info, parts.loss and parts.loss[0], problems)
    check_data_extras(doc, info, problems)
    problems.extend(split_problems(recipe, info, getattr(info, "labels", None)))
    loss = parts.loss[0] if parts.loss else None
    for plan in parts.plans.values():
        check_consistency(doc, loss, plan, problems)
    check_search(doc, recipe, problems, task)
    if problems:
        problems = list({(p.path, p.message): p for p in problems}.values())  # two networks from one list
        locate(problems, marks, str(path))
        raise RecipeError(sorted(problems, key=_position), str(path))
    resolve_paths(doc, args, path.parent)
    return Resolved(recipe, doc, path, info, parts, task.name, warnings)
