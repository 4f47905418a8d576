"""The recipe schema: every section, its defaults and its bounds; unknown keys are errors.

Open vocabularies (layers, sources, optimizers, ...) are typed loosely here and checked against
their registries in recipe/check.py, which knows each entry's own argument model.
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

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


class Distribution(Strict):
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    step: Optional[PositiveFloat] = None
    choices: Optional[list[Any]] = None

    @model_validator(mode="after")
    def _one_kind(self) -> "Distribution":
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError("a distribution is {low, high} (with log or step) or {choices: [...]}")
        if self.choices is None and self.low >= self.high:
            raise ValueError(f"low must be below high, got {self.low:g} >= {self.high:g}")
        if self.log and self.choices is None and self.low <= 0:
            raise ValueError("a log distribution needs low > 0")
        return self


class Objective(Strict):
    metric: str = "val.loss"
    direction: Literal["minimize", "maximize"] = "minimize"


class Search(Strict):
    trials: PositiveInt = 20
    objective: Objective = Objective()
    sampler: Literal["tpe", "random", "grid", "cmaes"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    space: dict[str, Distribution] = Field(default_factory=dict)


class Tolerance(Strict):
    atol: NonNegativeFloat = 1e-5
    rtol: NonNegativeFloat = 1e-3


class Onnx(Strict):
    opset: int = Field(18, ge=7)
    dynamic_batch: bool = True
    tolerance: Tolerance = Tolerance()


class Export(Strict):
    onnx: Optional[Onnx] = None


class Check(Strict):
    metrics: list[str] = Field(default_factory=list, description="metrics a CI check must reproduce")
    tolerance: NonNegativeFloat = 0.0


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
