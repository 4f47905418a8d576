"""`dlcli sample RUN --prompt ...` on a language model: text, one token at a time.

The scores come from the run's model.onnx through ONNX Runtime when it is there (or asked for),
from the PyTorch model otherwise; the draw itself is the task's, with numpy seeded by `--seed`,
so both engines write the same text for the same seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from dlcli.errors import UsageError


def check_options(length: int, temperature: float, top_k: Optional[int]) -> None:
    if length < 1:
        raise UsageError(f"--length must be at least 1 token, got {length}")
    if not temperature > 0:
        raise UsageError(f"--temperature must be above 0 (1 samples the model's own distribution; lower is greedier), "
                         f"got {temperature}")
    if top_k is not None and top_k < 1:
        raise UsageError(f"--top-k must be at least 1, got {top_k}")


def prompt_ids(tok: Any, prompt: str, strict: bool, warn: Callable[[str], None]) -> list[int]:
    """The prompt's token ids; characters outside the vocabulary are named, then refused (`strict`)
    or mapped to <unk> with a warning."""
    ids = tok.encode(prompt)
    if tok.unseen(ids):
        from dlcli.data.tokenize import UNK

        missing = sorted({c for c in prompt if c not in set(tok.vocab)})
        named = ", ".join(repr(c) for c in missing[:10]) + (" ..." if len(missing) > 10 else "")
        if strict:
            raise UsageError(f"--prompt has {len(missing)} character(s) outside the run's vocabulary: {named}; "
                             f"remove them, or leave out --strict to map them to {UNK}")
        warn(f"warning: --prompt has {len(missing)} character(s) outside the run's vocabulary ({named}): "
             f"each reads as {UNK}")
    return ids.tolist()


def scorer(run: Path, fit: Any, engine: str) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """(ids (1, T) -> scores (1, T, vocab), the engine used)."""
    path = run / "model.onnx"
    if engine == "onnxruntime" and not path.is_file():
        raise UsageError(f"{path} is missing: run `dlcli export {run}` first, or use --engine pytorch")
    if engine != "pytorch" and path.is_file():
        from dlcli.export.parity import ort_session

        session = ort_session(path.read_bytes())
        name = session.get_inputs()[0].name
        return (lambda ids: session.run(None, {name: ids})[0]), "onnxruntime"
    import torch

    model = fit.model.to("cpu").eval()

    def torch_scores(ids: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(ids)).float().numpy()

    return torch_scores, "pytorch"


def sample_text(run_dir: Path, prompt: str, length: int, temperature: float = 1.0, top_k: Optional[int] = None,
                seed: int = 0, engine: str = "auto", strict: bool = False, emit: Optional[Callable[[str], None]] = None,
                warn: Callable[[str], None] = print) -> dict:
    """Generate `length` tokens after `prompt`, handing the prompt and then each new piece of text to
    `emit` as it comes (once every option has been checked)."""
    from dlcli.data.tokenize import from_json
    from dlcli.workflows.runs import load_run

    check_options(length, temperature, top_k)
    run, fit = load_run(run_dir)
    if not hasattr(fit.task, "continue_tokens"):
        raise UsageError(f"{run} is a {fit.resolved.task} run: --prompt continues text with a language model run")
    tok = from_json(fit.data.dataset.extra["tokenizer"])  # the run's own, rebuilt from its data record
    ids = prompt_ids(tok, prompt, strict, warn)
    scores, used = scorer(run, fit, engine)
    if emit is not None:
        emit(prompt)
    new: list[int] = []
    shown = ""
    start = ids or tok.encode("\n").tolist() or [0]  # an empty prompt starts a new line, as nanoGPT's sampler does
    for token in fit.task.continue_tokens(scores, start, length, temperature, top_k, seed):
        new.append(token)
        # decoded whole, and a trailing U+FFFD held back: a character split over byte-level tokens
        # shows once its last byte has come
        text = tok.decode(new).rstrip("\ufffd")
        if emit is not None and text.startswith(shown) and len(text) > len(shown):
            emit(text[len(shown):])
            shown = text
    text = tok.decode(new)
    if emit is not None and text != shown:
        emit(text[len(shown):] if text.startswith(shown) else text)
    return {"run": str(run), "task": fit.resolved.task, "engine": used, "seed": seed, "prompt": prompt,
            "length": length, "temperature": temperature, "top_k": top_k, "tokens": new, "text": text}
