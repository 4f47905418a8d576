"""The recipe schema: every section, its defaults and its bounds; unknown keys are errors.

Open vocabularies (layers, sources, optimizers, ...) are typed loosely here and checked against
their registries in recipe/check.py, which knows each entry's own argument model.
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import (BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator,
                      model_validator)

Component = Union[str, dict[str, Any]]  # `adamw` or `{name: adamw, lr: 1e-3}`
TaskName = Literal["classification", "regression"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Split(Strict):
    """Fractions of the data for each split; they must sum to 1."""

    train: float = Field(0.8, ge=0, le=1)
    val: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)
    stratify: bool = True
    method: Literal["random", "hash"] = Field(
        "random", description="random: seeded shuffle (stratified when `stratify`); hash: each sample by a seeded hash "
        "of its features, stable under row order and appended rows, never stratified")

    @model_validator(mode="after")
    def _sums_to_one(self) -> "Split":
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must sum to 1, got {total:g}")
        if self.train <= 0:
            raise ValueError("the train split must not be empty")
        return self


class Data(Strict):
    source: Component = Field(description="a builtin dataset name, or {type: csv|npz|image_folder|..., ...}")
    split: Split = Split()
    normalize: str = Field("standard", description="none | standard | minmax; fitted on the train split only")
    augment: list[Any] = Field(default_factory=list, description="applied to train batches on the training device")


class EarlyStopping(Strict):
    monitor: str = "val.loss"
    patience: PositiveInt = 10
    mode: Optional[Literal["min", "max"]] = None  # inferred from the metric when omitted
    min_delta: NonNegativeFloat = 0.0


class Train(Strict):
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 64
    eval_batch_size: Optional[PositiveInt] = None
    optimizer: Component = "adam"
    schedule: Component = "constant"
    loss: Optional[Component] = None  # the task's default when omitted
    metrics: Optional[list[str]] = None  # the task's default when omitted
    early_stopping: Optional[EarlyStopping] = None
    grad_clip: Optional[PositiveFloat] = Field(None, description="clip the global gradient norm")
    l1: NonNegativeFloat = Field(0.0, description="L1 penalty on weights, added to the loss")
    l2: NonNegativeFloat = Field(0.0, description="L2 penalty on weights, added to the loss")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N | mps")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    deterministic: Optional[bool] = Field(
        None, description="deterministic algorithms only (cuDNN and cuBLAS too); an operation without one stops the "
        "run, named. Default: off for `dlcli train`, on for `dlcli lock` and `dlcli check`")
    threads: Optional[PositiveInt] = Field(None, description="torch CPU threads; fix it for reproducible CPU runs")
    compile: bool = Field(False, description="torch.compile the training network; the warm-up is timed apart and "
                          "left out of samples/s")
    channels_last: Optional[bool] = Field(None, description="channels_last memory format for 2-D conv nets; "
                                          "default: on for CUDA, off on the CPU")


Number = Union[int, float]  # ints stay ints: {low: 1, high: 4} searches integers


class Distribution(Strict):
    """{low, high} (int when both are ints) with `log` or `step`, or {choices: [...]}."""

    low: Optional[Number] = None
    high: Optional[Number] = None
    log: bool = False
    step: Optional[Number] = Field(None, gt=0)
    choices: Optional[list[Any]] = Field(None, min_length=1)

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

    @property
    def objectives(self) -> list[Objective]:
        return self.objective if isinstance(self.objective, list) else [self.objective]


class Tolerance(Strict):
    atol: NonNegativeFloat = 1e-5
    rtol: NonNegativeFloat = 1e-3


class Onnx(Strict):
    opset: int = Field(18, ge=7)
    dynamic_batch: bool = True
    tolerance: Tolerance = Tolerance()


class Export(Strict):
    onnx: Optional[Onnx] = None


class Tolerance(Strict):
    """|now - locked| <= atol + rtol * |locked|, the numpy.isclose rule."""

    atol: NonNegativeFloat = 0.0
    rtol: NonNegativeFloat = 0.0


def _atol(v: Any) -> Any:
    """A bare number is an atol: `tolerance: 0.01`."""
    return {"atol": v} if isinstance(v, (int, float)) and not isinstance(v, bool) else v


class Check(Strict):
    metrics: Optional[Union[list[str], dict[str, Optional[Tolerance]]]] = Field(
        None, description="final metrics a tolerant check compares, e.g. [test.accuracy] or {test.loss: {rtol: 0.1}}; "
        "default: every test metric (val when there is no test split)")
    tolerance: Optional[Tolerance] = Field(
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
    seed: int = 0
    vars: dict[str, Any] = Field(default_factory=dict)
    task: Optional[TaskName] = None
    data: Data
    model: Union[list[Any], dict[str, Any]]
    train: Train = Train()
    search: Optional[Search] = None
    export: Optional[Export] = None
    check: Optional[Check] = None
