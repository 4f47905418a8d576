"""Gradient flow from the grad_flow records: per layer and recorded step, the gradient norm, the
weight norm, the update-to-weight ratio and the activations' dead or saturated share; and the
layers whose gradients vanish or explode, named in words.

The thresholds are the usual rules of thumb (Glorot & Bengio 2010 on vanishing gradients through
sigmoid stacks; Karpathy's ~1e-3 update-to-weight ratio): a layer whose median gradient norm is
below 1e-3 of the strongest layer's, or below 1e-7, vanishes; one above 1e3, or non-finite, or
grown 100x from the first recorded steps to the last, explodes.
"""
from __future__ import annotations

import math
from pathlib import Path
import numpy as np

from dlcli.analysis.records import epoch_files, read_json_record

VANISH_RELATIVE, VANISH_ABSOLUTE, EXPLODE_ABSOLUTE, EXPLODE_GROWTH = 1e-3, 1e-7, 1e3, 100.0
COMMAND = "dlcli inspect RUN gradients"


def load_flow(run: Path) -> dict:
    """{role: {"layers", "kinds", "epochs", "steps", "grad_norm" (steps, layers) array, ...}} over
    every recorded epoch; steps count the role's optimizer steps from the start of training."""
    flows: dict = {}
    for epoch, path in epoch_files(run, "grad_flow", "json", COMMAND):
        for role, doc in read_json_record(path)["roles"].items():
            f = flows.setdefault(role, {"layers": doc["layers"], "kinds": doc["kinds"], "epochs": [], "steps": [],
                                        "grad_norm": [], "weight_norm": [], "update_ratio": [], "activations": {}})
            f["epochs"] += [epoch] * len(doc["steps"])
            f["steps"] += doc["steps"]
            for key in ("grad_norm", "weight_norm", "update_ratio"):
                f[key] += [row if row is not None else [math.nan] * len(doc["layers"]) for row in doc[key]]
            for name, act in doc["activations"].items():
                a = f["activations"].setdefault(name, {"kind": act["kind"], "share": []})
                a["share"] += [math.nan if v is None else v for v in act["share"]]
    for f in flows.values():
        for key in ("grad_norm", "weight_norm", "update_ratio"):
            f[key] = np.asarray(f[key], dtype=np.float64).reshape(len(f["steps"]), len(f["layers"]))
    return flows


def verdict(median: float, strongest: float, first: float, last: float) -> str:
    """"vanishing", "exploding" or "" for one layer's gradient norms."""
    if not math.isfinite(median) or median > EXPLODE_ABSOLUTE or (first > 0 and last / first > EXPLODE_GROWTH):
        return "exploding"
    if median < VANISH_ABSOLUTE or (strongest > 0 and median < VANISH_RELATIVE * strongest):
        return "vanishing"
    return ""


def layer_summary(flow: dict) -> list[dict]:
    """One row per layer: median gradient norm, last weight norm, median update ratio, verdict."""
    g = flow["grad_norm"]
    with np.errstate(all="ignore"):
        median = np.nanmedian(np.where(np.isfinite(g), g, np.inf), axis=0)
        k = max(1, len(g) // 5)  # the first and last fifth of the records
        first, last = np.nanmedian(g[:k], axis=0), np.nanmedian(g[-k:], axis=0)
        ratio = np.nanmedian(flow["update_ratio"], axis=0)
    strongest = float(np.max(median[np.isfinite(median)], initial=0.0))
    return [{"layer": name, "kind": kind, "grad_norm": float(median[i]), "weight_norm": float(flow["weight_norm"][-1, i]),
             "update_ratio": None if math.isnan(ratio[i]) else float(ratio[i]),
             "verdict": verdict(float(median[i]), strongest, float(first[i]), float(last[i]))}
            for i, (name, kind) in enumerate(zip(flow["layers"], flow["kinds"]))]


def activation_summary(flow: dict) -> list[dict]:
    """One row per watched activation: its kind and the median dead (relu) or saturated share."""
    rows = []
    for name, a in flow["activations"].items():
        share = np.asarray(a["share"], dtype=np.float64)
        what = "dead" if a["kind"] == "relu" else "saturated"
        rows.append({"layer": name, "kind": a["kind"], "measure": what,
                     "median": float(np.nanmedian(share)) if np.isfinite(share).any() else None,
                     "last": float(share[np.isfinite(share)][-1]) if np.isfinite(share).any() else None})
    return rows


def findings(layers: list[dict], acts: list[dict]) -> list[str]:
    """The sentences `inspect gradients` prints: which layers vanish or explode, which units die."""
    out = []
    for kind in ("vanishing", "exploding"):
        named = [r["layer"] for r in layers if r["verdict"] == kind]
        if named:
            out.append(f"{kind} gradients in {len(named)} of {len(layers)} layers: {', '.join(named)}")
    for a in acts:
        if a["last"] is not None and a["last"] >= 0.5:
            out.append(f"{a['layer']} ({a['kind']}): {a['last']:.0%} of its units {a['measure']} at the last record")
    return out or [f"gradients flow through all {len(layers)} layers: none vanishes or explodes"]


def gradient_report(flows: dict) -> dict:
    """JSON-able: per role, the layer and activation summaries and the findings."""
    report = {}
    for role, flow in flows.items():
        layers, acts = layer_summary(flow), activation_summary(flow)
        report[role] = {"records": len(flow["steps"]), "epochs": sorted(set(flow["epochs"])), "layers": layers,
                        "activations": acts, "findings": findings(layers, acts)}
    return report

