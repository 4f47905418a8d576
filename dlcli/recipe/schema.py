"""The recipe schema: every section, its defaults and its bounds; unknown keys are errors.

Open vocabularies (layers, sources, optimizers, ...) are typed loosely here and checked against
their registries in recipe/check.py, which knows each entry's own argument model.
"""
from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator,
                      model_validator)

from dlcli.components import Strict
from dlcli.opsets import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, producible, refusal
from dlcli.registry import closest

Component = Union[str, dict[str, Any]]  # `adamw` or `{name: adamw, lr: 1e-3}`
# A component whose type and name recipe/check.py checks against its registry (one message there,
# not a second one here); the JSON schema lists the names (recipe/jsonschema.py).
Named = Any
# inf and nan are floats too, and pydantic's bounds let inf through: no penalty, clip or delta is infinite
FiniteNonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
FinitePositive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
SEED_MAX = 2**32 - 1  # numpy's legacy seeding and scikit-learn take 32-bit seeds; torch takes them too
THREADS_MAX = 1024  # torch.set_num_threads takes more, then each op starts that many OS threads
DEVICES = ("auto", "cpu", "cuda", "mps")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]+)?)$")


class Split(Strict):
    """Fractions of the data for each split (they must sum to 1), or the split the data comes with."""

    train: float = Field(0.8, ge=0, le=1)
    val: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)
    stratify: bool = True
    method: Literal["random", "hash", "given"] = Field(
        "random", description="random: seeded shuffle (stratified when `stratify`); hash: each sample by a seeded hash "
        "of its features, stable under row order and appended rows, never stratified; given: the split the data "
        "comes with (`split: given`), with no fractions")

    @model_validator(mode="after")
    def _sums_to_one(self) -> "Split":
        if self.method == "given":
            extra = sorted(self.model_fields_set - {"method"})
            if extra:
                raise ValueError(f"a given split takes no {', '.join(extra)}: the data says which part each sample is in")
            return self
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must sum to 1, got {total:g}")
        if self.train <= 0:
            raise ValueError("the train split must not be empty")
        return self


GIVEN = "given"


def _split_may_be_given(schema: dict) -> None:
    """The JSON Schema of data.split: the mapping, or the string `given` the validator turns into one."""
    split = schema.get("properties", {}).get("split")
    if split is not None:
        outer = {k: split[k] for k in ("default", "description") if k in split}
        inner = {k: v for k, v in split.items() if k not in outer}
        schema["properties"]["split"] = {"anyOf": [{"const": GIVEN, "type": "string"}, inner], **outer}


class Data(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_split_may_be_given)

    source: Component = Field(description="a builtin dataset name, or {type: csv|npz|image_folder|..., ...}")
    split: Split = Field(
        Split(), description="fractions {train, val, test, stratify, method}, or `given`: the data's own split (an "
        "npz with x_train/y_train, x_val/y_val, x_test/y_test; a csv source with `split_column`)")
    normalize: str = Field("standard", description="none | standard | minmax; fitted on the train split only")
    augment: list[Any] = Field(default_factory=list, description="applied to train batches on the training device")

    @field_validator("split", mode="before")
    @classmethod
    def _given(cls, v: Any) -> Any:
        """`split: given` becomes Split(method=given), so every reader of the split sees one type."""
        if not isinstance(v, str):
            return v
        if v.strip() == GIVEN:
            return {"method": GIVEN}
        hint = "; did you mean 'given'?" if closest(v, [GIVEN]) else ""
        raise ValueError(f"expected `given` or a mapping of fractions {{train, val, test}}, got {v!r}{hint}")


class EarlyStopping(Strict):
    monitor: str = "val.loss"
    patience: PositiveInt = 10
    mode: Optional[Literal["min", "max"]] = Field(
        None, description="min: lower is better, max: higher is better; default: inferred from the metric")
    min_delta: FiniteNonNegative = 0.0


class Train(Strict):
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 64
    eval_batch_size: Optional[PositiveInt] = None
    optimizer: Named = Field(None, description="one spec for every optimizer role of the task, or one per role "
                             "({generator: {...}, discriminator: {...}}); default: the task's (adam)")
    schedule: Named = Field("constant", description="one spec for every role, or one per role")
    loss: Named = None  # the task's default when omitted
    metrics: Optional[list[str]] = None  # the task's default when omitted
    early_stopping: Optional[EarlyStopping] = None
    callbacks: list[Any] = Field(default_factory=list, description="recorders hung on the loop: `dlcli ls callbacks`")
    plots: Optional[bool] = Field(None, description="write plots/ when training ends (curves.png and the task's "
                                  "pictures); default: on, unless the environment sets DLCLI_PLOTS=0")
    eval: Literal["best", "last"] = Field(
        "best", description="which weights the final metrics and the export use: the best epoch's (by the monitored "
        "metric) or the last epoch's, as papers report")
    grad_clip: Optional[FinitePositive] = Field(None, description="clip the global gradient norm")
    l1: FiniteNonNegative = Field(0.0, description="L1 penalty on weights, added to the loss")
    l2: FiniteNonNegative = Field(0.0, description="L2 penalty on weights, added to the loss")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N | mps")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    deterministic: Optional[bool] = Field(
        None, description="deterministic algorithms only (cuDNN and cuBLAS too); an operation without one stops the "
        "run, named. Default: off for `dlcli train`, on for `dlcli lock` and `dlcli check`")
    threads: Optional[int] = Field(None, ge=1, le=THREADS_MAX,
                                   description=f"torch CPU threads (1 .. {THREADS_MAX}); fix it for reproducible CPU runs")
    compile: bool = Field(False, description="torch.compile the training network; the warm-up is timed apart and "
                          "left out of samples/s")
    channels_last: Optional[bool] = Field(None, description="channels_last memory format for 2-D conv nets; "
                                          "default: on for CUDA, off on the CPU")

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        """The names torch.device takes here, checked without importing torch."""
        if _DEVICE.match(v):
            return v
        near = closest(v.lower().split(":")[0], list(DEVICES))
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise ValueError(f"unknown device {v!r}: use auto, cpu, cuda, cuda:N or mps{hint}")


Number = Union[int, float]  # ints stay ints: {low: 1, high: 4} searches integers


class Distribution(Strict):
    """{low, high} (int when both are ints) with `log` or `step`, or {choices: [...]}."""

    low: Optional[Number] = None
    high: Optional[Number] = None
    log: bool = False
    step: Optional[Number] = Field(None, gt=0)
    choices: Optional[list[Any]] = Field(None, min_length=1)

    @field_validator("low", "high", "step", mode="before")
    @classmethod
    def _finite(cls, v: Any) -> Any:
        # before the type and `gt` checks: nan compares false with everything, so it would slip
        # past the range checks below or get a misleading message; "nan" in quotes parses too
        try:
            finite = not isinstance(v, (float, str)) or math.isfinite(float(v))
        except ValueError:  # not a number at all: the type check says so
            return v
        if not finite:
            raise ValueError(f"expected a finite number, got {v}")
        return v

    @field_validator("choices")
    @classmethod
    def _plain_choices(cls, v: Optional[list[Any]]) -> Optional[list[Any]]:
        # a choice reaches the trial as a `--set` value written as JSON: it must survive the round trip
        for i, choice in enumerate(v or []):
            problem = Distribution._not_json(choice)
            if problem:
                raise ValueError(f"choice {i} {problem}")
        return v

    @staticmethod
    def _not_json(value: Any) -> Optional[str]:
        """Why `value` (a choice, or a part of one) is not a plain JSON value; None when it is."""
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, got {value}"
        if value is None or isinstance(value, (bool, int, float, str)):
            return None
        if isinstance(value, list):
            return next((p for p in map(Distribution._not_json, value) if p), None)
        if isinstance(value, dict):
            bad = [k for k in value if not isinstance(k, str)]
            if bad:
                return f"has a key that is not a string: {bad[0]!r} (quote it)"
            return next((p for p in map(Distribution._not_json, value.values()) if p), None)
        return f"must be a number, string, boolean, null, list or mapping, got {value} ({type(value).__name__}; quote it)"

    @model_validator(mode="after")
    def _one_kind(self) -> "Distribution":
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("choices cannot be combined with low, high, log or step")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a distribution is {low, high} (with log or step) or {choices: [...]}")
        if self.low >= self.high:
            raise ValueError(f"empty range: low must be below high, got {self.low:g} >= {self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log distribution needs low > 0, got {self.low:g}")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined")
        return self

    @property
    def is_int(self) -> bool:
        return self.choices is None and all(isinstance(v, int) for v in (self.low, self.high)) and \
            (self.step is None or isinstance(self.step, int))


class Objective(Strict):
    metric: str = "val.loss"  # val.<metric>, val.loss, train.loss or params (the parameter count)
    direction: Optional[Literal["minimize", "maximize"]] = None  # inferred from the metric when omitted


class Search(Strict):
    trials: Optional[PositiveInt] = 20
    timeout: Optional[PositiveFloat] = Field(None, description="seconds; the search stops starting trials after it")
    objective: Union[Objective, list[Objective]] = Objective()
    sampler: str = Field("tpe", description="dlcli ls samplers")
    pruner: Optional[str] = Field(None, description="dlcli ls pruners; default median, none for several objectives")
    seed: Optional[int] = None  # default: the recipe's seed
    space: dict[str, Distribution] = Field(default_factory=dict)

    @field_validator("objective")
    @classmethod
    def _objectives(cls, v: Union[Objective, list[Objective]]) -> Union[Objective, list[Objective]]:
        if isinstance(v, list):
            if not v:
                raise ValueError("at least one objective is needed, e.g. {metric: val.loss}")
            metrics = [o.metric for o in v]
            twice = next((m for m in metrics if metrics.count(m) > 1), None)
            if twice:
                raise ValueError(f"'{twice}' is an objective twice: each objective needs its own metric")
        return v

    @property
    def objectives(self) -> list[Objective]:
        return self.objective if isinstance(self.objective, list) else [self.objective]


class ParityTolerance(Strict):
    """The parity gate: |onnx - torch| <= atol + rtol * |torch| on held-out samples."""

    atol: NonNegativeFloat = 1e-5
    rtol: NonNegativeFloat = 1e-3


class Onnx(Strict):
    opset: int = Field(DEFAULT_OPSET, ge=MIN_OPSET, le=MAX_OPSET,
                       description=f"ONNX opset of the exported model, {MIN_OPSET} to {MAX_OPSET}; the parity gate runs at it")
    dynamic_batch: bool = True
    tolerance: ParityTolerance = ParityTolerance()

    @field_validator("opset", mode="before")
    @classmethod
    def _producible(cls, v: Any) -> Any:
        """The same words as `dlcli export --opset`, rather than pydantic's bare bound."""
        if isinstance(v, int) and not isinstance(v, bool) and not producible(v):
            raise ValueError(refusal(v))
        return v


class Export(Strict):
    onnx: Optional[Onnx] = None


class CheckTolerance(Strict):
    """|now - locked| <= atol + rtol * |locked|, the numpy.isclose rule."""

    atol: FiniteNonNegative = 0.0
    rtol: FiniteNonNegative = 0.0


def _atol(v: Any) -> Any:
    """A bare number is an atol: `tolerance: 0.01`."""
    return {"atol": v} if isinstance(v, (int, float)) and not isinstance(v, bool) else v


class Check(Strict):
    metrics: Optional[Union[list[str], dict[str, Optional[CheckTolerance]]]] = Field(
        None, description="final metrics a tolerant check compares, e.g. [test.accuracy] or {test.loss: {rtol: 0.1}}; "
        "default: every test metric (val when there is no test split)")
    tolerance: Optional[CheckTolerance] = Field(
        None, description="tolerance of every metric without its own; default: atol 0.02 for metrics in [0, 1] "
        "(accuracy, F1, ...), rtol 0.1 for the others (loss, mse, ...)")
    leakage: Literal["warn", "error", "off"] = Field(
        "warn", description="exact-duplicate samples across train/val/test: warn, error (before training) or off")

    @field_validator("leakage", mode="before")
    @classmethod
    def _off_is_false(cls, v: Any) -> Any:
        return "off" if v is False else v  # YAML 1.1 reads a bare `off` as false

    @field_validator("tolerance", mode="before")
    @classmethod
    def _number_is_atol(cls, v: Any) -> Any:
        return _atol(v)

    @field_validator("metrics", mode="before")
    @classmethod
    def _numbers_are_atol(cls, v: Any) -> Any:
        return {k: _atol(t) for k, t in v.items()} if isinstance(v, dict) else v


class Recipe(Strict):
    name: str = Field(description="default: the recipe file's stem")
    description: str = ""
    extends: Optional[Union[str, list[str]]] = None
    seed: int = Field(0, ge=0, le=SEED_MAX, description=f"0 .. {SEED_MAX}")
    vars: dict[str, Any] = Field(default_factory=dict)
    task: Named = Field(None, description="a task name or {name: ..., args}: `dlcli ls tasks`; default: inferred "
                        "from the data's labels (classification for class labels, regression for real values)")
    data: Data
    # a list of layers, {layers: [...]}, {architecture: {args}} or an architecture's name: the
    # planner (nn/model.py) checks its form, so that a wrong one is one message, not one per form
    model: Any = Field(None, description="a list of layers, {layers: [...], init: ...}, {architecture: {args}} or an "
                       "architecture name: the network of a task with one")
    models: Optional[dict[str, Any]] = Field(None, description="one entry per network the task declares, e.g. "
                                             "{encoder: [...], decoder: [...]}")
    train: Train = Train()
    search: Optional[Search] = None
    export: Optional[Export] = None
    check: Optional[Check] = None

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_in_range(cls, v: Any) -> Any:
        """One message for every seed numpy and torch would refuse: 1e100, -1, 2**64, 0.5."""
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        if number and (v != v or not 0 <= v <= SEED_MAX or v != int(v)):
            raise ValueError(f"expected an integer from 0 to {SEED_MAX} (numpy and torch take 32-bit seeds), got {v!r}")
        return int(v) if number else v
