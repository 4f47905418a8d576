"""What an exported .onnx file says about itself, in its metadata_props (all strings).

Written at export (with torch present), read by `dlcli predict` through ONNX Runtime alone:
nothing here imports torch or onnx.

Keys:
  dlcli.version        the dlcli version that exported it
  dlcli.recipe         the recipe name
  dlcli.recipe_sha256  sha256 of the run's resolved recipe.yaml
  dlcli.task           the run's task (classification, regression, autoencoder, ...)
  dlcli.classes        JSON list of class names (classification)
  dlcli.scores         what the output holds: logits (softmax gives probabilities), logit (one
                       binary logit: sigmoid), sigmoid_logits (one per class), log_probs, margins
                       (hinge: no probabilities), values (regression)
  dlcli.input          JSON {"name", "shape" (batch axis null), "dtype", "layout",
                       "feature_names" (tabular, or null), "image" ({"size": [h, w], "mode"} or null)}
  dlcli.output         JSON {"name", "shape"}
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

PREFIX = "dlcli."


@dataclass
class ModelCard:
    """The decoded metadata of an exported model."""

    version: str
    recipe: str
    recipe_sha256: str
    task: str
    scores: str
    input: dict
    output: dict
    classes: Optional[list[str]] = None
    extra: dict = field(default_factory=dict)

    def to_props(self) -> dict[str, str]:
        props = {"version": self.version, "recipe": self.recipe, "recipe_sha256": self.recipe_sha256,
                 "task": self.task, "scores": self.scores, "input": json.dumps(self.input),
                 "output": json.dumps(self.output)}
        if self.classes is not None:
            props["classes"] = json.dumps(self.classes)
        return {PREFIX + k: v for k, v in props.items()}

    @classmethod
    def from_props(cls, props: dict[str, str]) -> "ModelCard":
        """Raise KeyError naming a missing key for a file dlcli did not export."""
        get = {k[len(PREFIX):]: v for k, v in props.items() if k.startswith(PREFIX)}
        classes = json.loads(get["classes"]) if "classes" in get else None
        return cls(get["version"], get["recipe"], get["recipe_sha256"], get["task"], get["scores"],
                   json.loads(get["input"]), json.loads(get["output"]), classes)


def scores_kind(labels: Optional[str], loss_name: str, outputs: Any) -> str:
    """What the network's output means, from the data's labels, the loss it was trained with and its width."""
    if labels == "values":
        return "values"
    if loss_name == "bce":
        return "logit" if outputs == 1 else "sigmoid_logits"
    return {"nll": "log_probs", "hinge": "margins"}.get(loss_name, "logits")
