"""What a task is (DESIGN section 4): the networks it trains, its optimizer roles, its batches, its
step, its evaluation, what it exports and, for generative tasks, how it samples.

The training loop (engine/loop.py) calls only this protocol, so a new family is one module here,
registered, and the task contract test covers it. Nothing outside dlcli/tasks/ names a task.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Protocol

from dlcli.components import ComponentArgs
from dlcli.registry import Registry

tasks = Registry("task")


class TaskArgs(ComponentArgs):
    """Base of every task's arguments (`task: {name: vae, latent: 16}`)."""


@dataclass(frozen=True)
class Needs:
    """What a task consumes. `labels`: the label kinds it accepts ("classes", "values"; None in
    the tuple: data without labels too); `infer_from`: the label kind (or "tokens", for text)
    from which a recipe without `task:` is taken to mean this task; `tokens`: whether it reads
    token ids of a text (a source with a vocabulary), which the other tasks cannot."""

    labels: tuple = ("classes", "values", None)
    infer_from: Optional[str] = None
    tokens: bool = False

    @property
    def hint(self) -> Optional[str]:
        """The label kind a file's target column is read as, when the task takes only one."""
        kinds = [k for k in self.labels if k is not None]
        return kinds[0] if len(kinds) == 1 and None not in self.labels else None

    def refusal(self, have: Optional[str], tokens: bool = False) -> Optional[str]:
        """Why data whose labels are `have` (token ids of a text when `tokens`) cannot feed the task, or None."""
        if tokens != self.tokens:
            return ("it reads the token ids of a text: use a text source (text, pydoc_topics, python_stdlib)"
                    if self.tokens else "this data is the token ids of a text, which it cannot read: train a "
                    "language_model on it")
        if have in self.labels:
            return None
        words = {"classes": "class labels", "values": "real-valued targets", "sequences": "target token sequences",
                 None: "no labels"}
        want = " or ".join(words[k] for k in self.labels)
        return f"it needs data with {want}, and this data has {words[have]}"


@dataclass(frozen=True)
class Network:
    """One network a task declares: the per-sample shape it takes, what `linear: auto` means for it,
    the per-sample output shape the task requires (None: whatever the layers give), its job, and
    the network (declared before it) whose output its cross-attention layers read (a decoder's encoder)."""

    input_shape: tuple
    auto: Optional[int]
    out_shape: Optional[tuple] = None
    about: str = ""
    memory: Optional[str] = None


@dataclass
class ExportModule:
    """One ONNX file a run exports: the module (raw inputs in), example inputs for tracing and the
    parity gate (numpy, float32), the names of its inputs and outputs and what they mean."""

    module: Any
    inputs: dict  # name -> np.ndarray of held-out examples, batch first
    outputs: list
    meaning: dict = field(default_factory=dict)  # JSON-ready: what each input and output is
    # per-sample axes left dynamic (None: a sequence input's, without meaning); one list per input for several
    seq_axes: Optional[list] = None
    more_inputs: list = field(default_factory=list)  # further examples (other lengths) the parity gate runs too


class Batches(Protocol):
    """One epoch of batches: its length is known before it starts (per-step schedules need it)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...

    def samples(self, i: int) -> int: ...


class Task(Protocol):
    Args: type
    needs: Needs
    default_loss: Optional[str]  # None: the task computes its own losses
    default_metrics: list

    def network_names(self) -> list[str]: ...

    def networks(self, info: Any) -> dict[str, Network]: ...

    def logged(self, split: str, metric_names: list = ()) -> list[str]: ...

    def optimizers(self) -> dict[str, tuple[str, ...]]: ...

    def default_optimizer(self, role: str) -> Any: ...

    def batches(self, data: Any, fit: Any) -> Batches: ...

    def train_step(self, batch: Any, fit: Any) -> dict: ...

    def evaluate(self, split: str, fit: Any) -> dict: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def export_modules(self, fit: Any) -> dict[str, ExportModule]: ...


class TaskBase:
    """Defaults shared by the tasks (each still declares its own networks and step): arguments,
    shuffled device-resident batches, no state of its own."""

    Args = TaskArgs
    name = ""  # the registered name, set when a recipe is checked
    needs = Needs()
    default_loss: Optional[str] = None
    default_metrics: list = []
    eval_extras: list = []  # metrics `dlcli eval` adds to the recipe's (a confusion matrix)
    standardize_targets = False  # real-valued targets are standardised on the train split
    samples_rows = False  # `dlcli sample` can draw from it
    predicts_probabilities = False  # probabilities(x, fit) gives class probabilities (the probe callback, the atlas)
    # A layer name that lets a task with two networks take one `model:` list: the layers before it
    # are network_names()[0], the layers after it network_names()[1] (an autoencoder's `bottleneck`).
    split_at: Optional[str] = None
    example = ""  # a small recipe (no name, no export) that trains it in seconds: `dlcli ls tasks NAME`, the contract test

    def __init__(self, args: Any = None):
        self.args = args if args is not None else self.Args()

    def default_optimizer(self, role: str) -> Any:
        return "adam"

    def batches(self, data: Any, fit: Any) -> Batches:
        return ShuffledBatches(data, fit)

    def epoch_samples(self, data: Any) -> int:
        """How many samples one epoch's batches cover (sets the steps per epoch)."""
        return data.size("train")

    def data_problems(self, info: Any) -> list[tuple[tuple, str]]:
        """(key path under `task`, message) for each way the task's arguments do not fit the data."""
        return []

    def plan_problems(self, plans: dict) -> list[tuple[tuple, str]]:
        """(key path, message) for each way the planned networks (name -> ModelPlan) do not suit the task."""
        return []

    def complete(self, nets: dict, plans: dict, info: Any) -> dict:
        """The networks built from the recipe (planned as `plans`), with whatever the task adds (a VAE's heads)."""
        return nets

    def targets(self, y: Any, labels: Optional[str], device: Any) -> Any:
        return labelled_targets(y, labels, device)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"this task keeps no state of its own, the file holds {sorted(state)}")

    def flops_per_sample(self, fit: Any) -> Optional[float]:
        return None

    def pictures(self, fit: Any, folder: Any) -> list:
        """The figures training ends with, beside curves.png (tasks/pictures.py); the paths written."""
        return []

    def probabilities(self, x: Any, fit: Any) -> Any:
        """(N, C) predicted class probabilities of inputs x, in eval mode; tasks that set
        predicts_probabilities say how."""
        raise NotImplementedError(f"the {self.name} task predicts no class probabilities")

    def callbacks(self) -> list:
        """Callbacks the task hangs on the loop (a GAN's lost-generator warning); duck-typed on
        engine/callbacks.py's hooks, which tasks do not import."""
        return []


def labelled_targets(y: Any, labels: Optional[str], device: Any) -> Any:
    """Class labels as int64, real-valued targets as float32 (N, T), no labels as (N, 0)."""
    import torch

    if labels == "classes":
        return torch.as_tensor(y, dtype=torch.long, device=device)
    t = torch.as_tensor(y, dtype=torch.float32, device=device)
    return t[:, None] if t.ndim == 1 else t


class ShuffledBatches:
    """Seeded shuffled slices of the device-resident train split, this rank's shard of each global
    batch, augmented on the device: (x, y) per step."""

    def __init__(self, data: Any, fit: Any):
        import torch

        self.data, self.fit = data, fit
        self.n, self.bs = data.size("train"), fit.batch_size
        self.perm = torch.randperm(self.n, generator=fit.gen, device=fit.device)

    def __len__(self) -> int:
        return self.fit.steps_per_epoch

    def samples(self, i: int) -> int:
        return min(self.bs, self.n - i * self.bs)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        x, y, f = self.data.x["train"], self.data.y["train"], self.fit
        for i in range(len(self)):
            idx = f.dist.shard(self.perm[i * self.bs:(i + 1) * self.bs])
            xb, yb = x[idx], y[idx]  # a gather keeps channels_last
            if f.augment is not None:
                xb, yb = f.augment(xb, yb, f.gen)
            yield xb, yb


def predict_batched(net: Any, x: Any, batch_size: int) -> Any:
    import torch

    with torch.no_grad():
        return torch.cat([net(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])
