"""A training run from start to finish: setup -> train -> save -> report.

Fresh runs get a new run directory; `resume` continues one from its last checkpoint with the
optimizer, schedule and RNG states restored, so an interrupted run ends with the same weights.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from dlcli.engine import callbacks as cb
from dlcli.engine import checkpoint, rundir
from dlcli.engine.fit import Fit
from dlcli.engine.loop import Diverged, LoopState, StopTraining, fit
from dlcli.engine.seed import nondeterministic_op
from dlcli.engine.setup import build_fit
from dlcli.errors import RunFailed, UsageError
from dlcli.fsio import BackgroundWriter, write_atomic, write_json
from dlcli.recipe.yamlio import dump


def start(resolved: Any, runs_root: Path, run_dir: Optional[Path] = None,
          deterministic: bool = False) -> tuple[Path, Fit, LoopState]:
    """A new run of a checked recipe: in runs_root/<name>/NNNN, or exactly in `run_dir` (a search
    trial's folder)."""
    if run_dir is None:
        rundir.check_writable(runs_root, "--runs-dir")  # before the data is loaded: nothing trains in vain
    else:
        rundir.check_writable(run_dir, "the run directory")
    f = build_fit(resolved, deterministic=deterministic, dist=join(resolved))
    refuse_leakage(resolved, f.data.leakage)  # before the run directory: a refusal leaves nothing behind
    if not f.dist.main:
        return Path(f.dist.broadcast(None)), f, LoopState()
    run = rundir.new_run_dir(runs_root, resolved.recipe.name) if run_dir is None else rundir.make_run_dir(run_dir)
    write_atomic(run / "recipe.yaml", dump(resolved.doc))
    write_json(run / "run.json", base_record(run, f))
    rundir.write_splits(run, f.data.indices, f.data.digest)  # last: with it, the run can be resumed
    f.dist.broadcast(str(run))
    return run, f, LoopState()


def join(resolved: Any) -> Any:
    """The process group torchrun or SLURM started this process in (a single process otherwise)."""
    from dlcli.engine.distributed import from_environment

    return from_environment(resolved.recipe.train.device)


def refuse_leakage(resolved: Any, report: Optional[dict]) -> None:
    """With `check.leakage: error`, exact duplicates across the splits stop the run (exit 2)."""
    from dlcli.data.splits import describe_leakage, leaked

    check = resolved.recipe.check
    if check is None or check.leakage != "error" or not leaked(report):
        return
    raise UsageError(f"{resolved.path}: check.leakage: {describe_leakage(report)}; remove the duplicates, use "
                     f"`data.split.method: hash` so duplicates share a split, or set check.leakage: warn")


RESUME_STILL = "`dlcli eval` still works on its checkpoints; train the recipe again for a run that can be resumed"
NO_STATE = "{path} is missing: {run} starts over from epoch 1 on its saved split"


def resume(run: Path, resolved: Any, overridden: bool) -> tuple[Path, Fit, LoopState]:
    """Continue `run` (its recipe as resumed: `resolved`) from the last training state; a run
    killed before its first one starts over from epoch 1 on its saved split, which ends exactly
    where an uninterrupted run would. Nothing in the run directory changes until the state has
    loaded into the networks; recipe.yaml is rewritten only when `overridden`."""
    if not (run / "splits.json").exists() and not checkpoint.state_path(run, "last").exists():
        raise UsageError(f"{run} stopped before its data was split: nothing to resume; train the recipe again")
    for folder in (run, run / "checkpoints"):
        rundir.check_writable(folder, "the run directory")
    was = rundir.read_record(run, RESUME_STILL).get("determinism") or {}
    indices = rundir.read_splits(run, RESUME_STILL)
    f = build_fit(resolved, indices, deterministic=bool(was.get("deterministic")), dist=join(resolved))
    if f.dist.main:
        checkpoint.remove_partial_writes(run)
    f.dist.broadcast(None)  # no rank reads the state before rank 0 has tidied up
    state = restore(run, f)
    if f.dist.main:  # the state fits: only now may the run's files change
        if overridden:
            write_atomic(run / "recipe.yaml", dump(resolved.doc))
        rundir.truncate_metrics(run, state.epoch)
    return run, f, state


def restore(run: Path, s: Fit) -> LoopState:
    """The loop state of the last checkpoint, with everything else put back (checkpoint.restore_into);
    exit 2 naming the file when it does not fit. No file: epoch 0, and it is said."""
    path = checkpoint.state_path(run, "last")
    if not path.is_file():
        if s.dist.main:
            say_starting_over(run, path)
        return LoopState()
    saved = checkpoint.load_state(run, "last")
    try:
        checkpoint.restore_into(s, saved, path)
        return LoopState(**saved["loop"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise UsageError(f"{path} does not fit this run ({type(e).__name__}: {str(e)[:200]}); "
                         f"{checkpoint.DAMAGED_STATE}") from None


def say_starting_over(run: Path, path: Path) -> None:
    """Always said, on stderr: a run that had trained epochs loses them."""
    from dlcli.report.console import err_console

    logged = rundir.logged_epochs(run)
    lost = f" (the {logged} epochs in metrics.jsonl are trained again)" if logged else ""
    err_console().print(f"note: {NO_STATE.format(path=path, run=run)}{lost}", soft_wrap=True)


def base_record(run: Path, s: Fit) -> dict:
    from dlcli.nn.model import count_params
    from dlcli.engine.env import device_info, environment, git_commit, versions

    r, info, recipe = s.resolved.recipe, s.data.dataset.info, s.resolved.path
    return {
        "name": r.name, "run": str(run), "recipe": str(recipe), "created": datetime.now(timezone.utc).isoformat(),
        "status": "running", "seed": r.seed, "task": s.resolved.task, "networks": list(s.nets), "versions": versions(),
        "device": device_info(s.device), "environment": environment(s.device, s.determinism), "git_commit": git_commit(Path(recipe).resolve().parent),
        "data": {"digest": s.data.dataset.digest(), "samples": len(s.data.dataset), "input_shape": list(info.input_shape),
                 "labels": info.labels, "classes": info.classes, "layout": info.layout},
        "splits": {"digest": s.data.digest, **{k: len(v) for k, v in s.data.indices.items()}},
        "leakage": s.data.leakage,
        "parameters": count_params(s.model), "determinism": s.determinism,
        "distributed": {"world_size": s.dist.world, "backend": s.dist.backend} if s.dist.active else None,
    }


def final_metrics(s: Fit) -> dict:
    return {split: s.evaluate(split) for split in ("train", "val", "test") if s.data.size(split)}


def update_record(run: Path, **fields: Any) -> dict:
    record = rundir.read_json(run / "run.json")
    record.update(fields)
    write_json(run / "run.json", record)
    return record


def engine_callbacks(run: Path, s: Fit, reporter: Any, writer: BackgroundWriter, extra: list) -> cb.Callbacks:
    """Best tracking, the recipe's callbacks, then (rank 0) metrics file, checkpoints, console;
    early stopping, then `extra` (a search's pruner). Other ranks take the same decisions, from
    the record rank 0 broadcast, and write nothing."""
    from dlcli.tasks.metrics import direction

    t = s.resolved.recipe.train
    es = t.early_stopping
    mode = es.mode if es is not None and es.mode else None
    maximize = mode == "max" if mode else direction(s.monitor) == "maximize"
    items: list = [cb.Best(s.monitor, maximize, es.min_delta if es else 0.0)]
    recipe_items = [entry(args) for entry, args in s.resolved.parts.callbacks]
    for item in recipe_items:
        if hasattr(item, "bind"):  # recorders write records/ (rank 0 only)
            item.bind(run if s.dist.main else None, writer)
    items += recipe_items + s.task.callbacks()
    if s.dist.main:
        items += [cb.MetricsFile(run, writer), cb.Checkpoint(run, writer), cb.Console(reporter, run)]
    if es is not None:
        items.append(cb.EarlyStopping(s.monitor, es.patience))
    return cb.Callbacks(items + (extra if s.dist.main else []))


def train(run: Path, s: Fit, state: LoopState, reporter: Any, extra: Optional[list] = None) -> dict:
    """Run the loop, then evaluate the evaluated checkpoint on every split and write run.json (rank 0).
    `extra`: more callbacks (a search's pruner), on rank 0."""
    started = time.perf_counter()
    note = (lambda **fields: update_record(run, **fields)) if s.dist.main else (lambda **fields: None)  # noqa: E731
    measure_flops(s, run if s.dist.main else None)
    writer = BackgroundWriter()
    s.callbacks = engine_callbacks(run, s, reporter, writer, list(extra or []))
    try:
        state = fit(s, state, s.callbacks, progress=reporter.live)
        writer.flush()
    except StopTraining as e:
        note(status=e.status, stop_reason=str(e), epochs_completed=state.epoch)
        raise
    except Diverged as e:
        kept = "the best checkpoint is kept" if state.best_epoch else "no checkpoint was written"
        note(status="diverged", stop_reason=str(e), best_epoch=state.best_epoch)
        raise RunFailed(f"{e}; training stopped ({kept}) in {run}") from None
    except RuntimeError as e:
        op = nondeterministic_op(e)
        if op is None:
            raise
        note(status="failed", stop_reason=f"no deterministic implementation: {op}")
        raise RunFailed(f"train.deterministic is on, but {op} has no deterministic implementation on "
                        f"{s.device.type}; change that layer, or set train.deterministic: false") from None
    except OSError as e:  # a full disk, a folder gone: the first failed write ends the run
        raise write_failed(run, e, f"training stopped at epoch {state.epoch}", note) from None
    except KeyboardInterrupt:
        note(status="interrupted", epochs_completed=state.epoch)
        reporter.interrupted(run, state.epoch)
        raise
    finally:
        writer.drain()  # every checkpoint of a finished epoch is on disk, whatever happened
        reporter.close()
    if s.dist.active and not compare_ranks(run, s):
        return {"rank": s.dist.rank, "run": str(run)}
    try:
        return finish(run, s, state, time.perf_counter() - started)
    except OSError as e:
        raise write_failed(run, e, f"training ended (epoch {state.epoch}), but its results could not be saved",
                           note) from None


def write_failed(run: Path, error: OSError, what: str, note: Callable[..., Any]) -> RunFailed:
    """Exit 1 naming the file and the OS's reason; run.json says 'failed' when it can still be written."""
    from dlcli.fsio import describe_os_error

    reason = describe_os_error(error)
    try:
        note(status="failed", stop_reason=reason)
        recorded = "run.json records the failure"
    except (OSError, ValueError):
        recorded = "run.json could not be updated either"
    return RunFailed(f"{reason}; {what}; {recorded}; once the cause is fixed, `dlcli train --resume {run}` "
                     f"continues from the last checkpoint on disk")


def compare_ranks(run: Path, s: Fit) -> bool:
    """Give every rank rank 0's buffers, then record each rank's weights hash (they must agree);
    True on rank 0, which goes on to finish the run."""
    s.dist.sync_buffers(s.model)
    ranks = s.dist.gather(weights_sha256(s.model))
    if s.dist.main:
        update_record(run, distributed={"world_size": s.dist.world, "backend": s.dist.backend, "rank_weights_sha256": ranks})
    return s.dist.main


def measure_flops(s: Fit, run: Optional[Path]) -> None:
    """FLOPs per training sample (for MFU on CUDA), counted once where the task can count them;
    recorded in run.json by rank 0."""
    from dlcli.engine.throughput import bf16_peak

    s.flops_per_sample = s.task.flops_per_sample(s)
    s.peak_flops = bf16_peak(s.device)
    if run is not None:
        update_record(run, throughput={"flops_per_sample": s.flops_per_sample, "bf16_peak_flops": s.peak_flops})


def weights_sha256(net: Any) -> str:
    """A hash of a network's current parameters and buffers (to compare ranks)."""
    import hashlib

    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def finish(run: Path, s: Fit, state: LoopState, seconds: float) -> dict:
    """Evaluate the weights train.eval names (the best epoch's, or the last epoch's, saved now as
    checkpoints/last.safetensors) on every split, and record which they were."""
    which = s.resolved.recipe.train.eval
    if which == "last":
        write_atomic(checkpoint.weights_path(run, "last"), checkpoint.weights_blob(s.model, state.epoch))
    checkpoint.load_weights(run, which, s.model)
    metrics = final_metrics(s)
    sha = checkpoint.file_sha256(checkpoint.weights_path(run, which))
    epoch = state.epoch if which == "last" else state.best_epoch
    return update_record(
        run, status="completed", stop_reason=state.stop_reason, epochs_completed=state.epoch,
        best_epoch=state.best_epoch, monitor=s.monitor, train_seconds=round(seconds, 3), metrics=metrics,
        weights={"file": f"checkpoints/{which}.safetensors", "sha256": sha, "eval": which, "epoch": epoch})
