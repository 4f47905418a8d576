"""ONNX opsets: every opset dlcli advertises can be produced, is exactly the one asked for and
passes the parity gate at it; the rest are refused before any work, by `validate` too.

Also the graph pass that drops needless `Reshape allowzero=1`, and the private temp folder the
export runs in.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from dlcli.opsets import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, TORCHSCRIPT_MAX_OPSET
from tests.conftest import ROOT, TINY

# a small network whose graph holds the common ops: Conv, BatchNormalization, Relu, Reshape, Gemm
COMPOSITE = ([{"conv2d": {"out": 3, "padding": 1}}, "batchnorm", "relu", "flatten", {"dropout": 0.1},
              {"linear": 5}], (2, 5, 5))


def build(items: list, shape: tuple):
    import torch

    import dlcli.nn  # noqa: F401  (registers the layers)
    from dlcli.nn.model import build_model, plan_model

    plan = plan_model(items, shape, outputs=5)
    if isinstance(plan.out_shape, list):  # several outputs: the gate compares the first
        plan = plan_model(items + [{"select": 0}], shape, outputs=5)
    assert plan.ctx.problems == []
    torch.manual_seed(0)
    return build_model(plan).eval()


def export_checked(model, x: np.ndarray, opset: int, seq_axes: list[int]):
    from dlcli.export import onnx_export as ox
    from dlcli.export.parity import check_parity

    proto, exporter, notes = ox.export_model(model, x, opset, seq_axes, True)
    assert ox.produced_opset(proto) == opset, (exporter, notes)
    report = check_parity(model, proto.SerializeToString(), x, atol=1e-5, rtol=1e-3)
    assert report["passed"], report
    return proto, exporter, notes


def allowzero_reshapes(proto) -> int:
    return sum(1 for n in proto.graph.node if n.op_type == "Reshape" and any(a.name == "allowzero" and a.i == 1
                                                                            for a in n.attribute))


# ------------------------------------------------------------------------------- the range


def test_the_advertised_range():
    from dlcli.export import onnx_export as ox

    assert (MIN_OPSET, MAX_OPSET) == (13, 25) == ox.opset_range()
    assert MIN_OPSET <= DEFAULT_OPSET <= TORCHSCRIPT_MAX_OPSET <= MAX_OPSET


COMPOSITES = {"transformer_encoder", "transformer_decoder", "gpt", "repeat", "residual", "parallel"}


def test_every_layer_exports_at_the_lowest_opset():
    """The hard end: below 18 the dynamo exporter's converter often cannot go, so the TorchScript
    exporter (with dlcli's opset-13 triu and attention) must cover the rest. One test over all
    layers (tests/layer_examples.py), as the contract test does at the default opset."""
    from dlcli.nn.base import layers
    from tests.export.test_export_contract import example_model

    used = set()
    # an unrolled time loop (ntm) is LSTMCell, softmax and elementwise arithmetic, each covered here by
    # its own layer; its graph of hundreds of nodes per step would only repeat them, at 10 s an export.
    # The composites are their parts (covered here) plus an add or a concat: 20 s of exports that
    # repeat them; the export contract test still exports each at the default opset.
    for name in [n for n in layers.names() if not layers.get(n).unrolls_time and n not in COMPOSITES]:
        model, x, axes, _ = example_model(name)
        _, exporter, _ = export_checked(model, x, MIN_OPSET, axes)
        used.add(exporter)
    assert used == {"dynamo", "torchscript"}  # both exporters are needed down there


@pytest.mark.parametrize("opset", range(MIN_OPSET, MAX_OPSET + 1))
def test_every_opset_of_the_range_is_produced_exactly(opset):
    model = build(*COMPOSITE)
    x = np.random.default_rng(0).normal(size=(8, *COMPOSITE[1])).astype(np.float32)
    proto, exporter, notes = export_checked(model, x, opset, [])
    if opset >= DEFAULT_OPSET:  # the dynamo exporter writes 18 and converts up without trouble
        assert exporter == "dynamo" and not notes
    assert allowzero_reshapes(proto) == 0
    if exporter == "torchscript":
        assert any("could not write opset" in n and "TorchScript" in n for n in notes), notes


def test_attention_stays_dynamic_where_dynamo_reaches(tmp_path):
    """At 17 the dynamo exporter's converter reaches the opset, so sequences stay dynamic."""
    from tests.export.test_export_contract import inputs, model_for

    items, shape = model_for("attention")
    proto, exporter, notes = export_checked(build(items, shape), inputs("attention", shape, 8), 17, [0])
    assert exporter == "dynamo" and not notes
    assert proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param


# ---------------------------------------------------------------------- what cannot be made


def test_an_exporter_that_misses_the_opset_is_passed_over(monkeypatch):
    """torch's dynamo exporter keeps opset 18 when its converter gives up: that graph is not the export."""
    from dlcli.export import onnx_export as ox

    real = ox.export_dynamo
    monkeypatch.setattr(ox, "export_dynamo", lambda model, example, opset, shapes: real(model, example, 18, shapes))
    model = build(*COMPOSITE)
    x = np.random.default_rng(0).normal(size=(8, *COMPOSITE[1])).astype(np.float32)
    proto, exporter, notes = export_checked(model, x, 20, [])
    assert exporter == "torchscript"
    assert notes == ["the dynamo exporter could not write opset 20 (it wrote 18: its version converter cannot take "
                     "this graph there); exported with the TorchScript exporter"]
    with pytest.raises(Exception) as e:  # above 20 there is no TorchScript exporter to fall back on
        ox.export_model(model, x, 21, [], True)
    assert type(e.value).__name__ == "RunFailed"
    assert "opset 21 failed with both exporters; dynamo: could not write opset 21 (it wrote 18" in str(e.value)
    assert "torchscript: writes opsets up to 20 only" in str(e.value)


RECIPE = TINY + "export:\n  onnx: {opset: OPSET}\n"


@pytest.mark.parametrize("opset", [MIN_OPSET - 1, MAX_OPSET + 1, 7])
def test_validate_refuses_an_opset_that_cannot_be_produced(cli, write, opset):
    path = write("r.yaml", RECIPE.replace("OPSET", str(opset)))
    r = cli("validate", path)
    err = " ".join(r.err.split())
    assert r.code == 2 and "Traceback" not in r.err
    assert (f"r.yaml:12:10: export.onnx.opset: opset {opset} cannot be produced: "
            "dlcli exports ONNX opsets 13 to 25") in err


@pytest.mark.parametrize("opset", [MIN_OPSET, MAX_OPSET])
def test_validate_accepts_the_range_without_torch_or_onnx(write, opset):
    path = write("r.yaml", RECIPE.replace("OPSET", str(opset)))
    code = ("import sys\nfrom dlcli.cli.app import main\nsys.argv = ['dlcli', 'validate', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxruntime')))")
    p = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"


# ------------------------------------------------------------------------- through the CLI


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from dlcli.workflows.train import run_training
    from dlcli.report.console import TrainReporter

    root = tmp_path_factory.mktemp("opsets")
    recipe = root / "tiny.yaml"
    recipe.write_text(TINY.lstrip())
    return Path(run_training(recipe, None, [], root / "runs", TrainReporter(quiet=True))["run"])


@pytest.mark.parametrize("opset", [13, 17])
def test_cli_exports_older_opsets_with_parity(cli, trained, tmp_path, opset):
    """The reported bug: --opset 13 or 17 exited 1 (after training, when the recipe asked for it)."""
    import onnx

    r = cli("export", trained, "--opset", str(opset), "--out", tmp_path / "m.onnx", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["opset"] == opset and report["parity"]["passed"]
    model = onnx.load(tmp_path / "m.onnx")
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    assert json.loads((trained / "run.json").read_text())["export"]["opset"] == opset


def test_train_exports_at_the_recipe_opset(cli, write, tmp_path):
    recipe = write("t.yaml", RECIPE.replace("OPSET", "13"))
    r = cli("train", recipe, "--runs-dir", tmp_path, "--json")
    assert r.code == 0, r.err
    record = json.loads(r.out)
    assert record["export"]["opset"] == 13 and record["export"]["parity"]["passed"]


# ------------------------------------------------------------------------------ allowzero


def reshape_model(shape_values: list, computed: bool = False):
    """x (2, 6) -> Reshape(x, shape) with allowzero=1; the shape a constant, or computed from x."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    if computed:  # Shape(x) -> reversed (6, 2): known only when the graph runs
        nodes += [helper.make_node("Shape", ["x"], ["s"]),
                  helper.make_node("Slice", ["s", "start", "end", "axis", "step"], ["shape"])]
        inits += [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
                  (("start", [-1]), ("end", [-3]), ("axis", [0]), ("step", [-1]))]
    else:
        nodes.append(helper.make_node("Constant", [], ["shape"],
                                      value=numpy_helper.from_array(np.array(shape_values, np.int64))))
    nodes.append(helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=1))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def run(proto, x):
    from dlcli.export.parity import ort_session

    return ort_session(proto.SerializeToString()).run(None, {"x": x})[0]


@pytest.mark.parametrize("shape,computed,dropped", [([3, 4], False, True), ([-1, 3], False, True),
                                                    ([2, 0, 3], False, False), (None, True, False)])
def test_allowzero_is_dropped_only_where_it_changes_nothing(shape, computed, dropped):
    from dlcli.export.graph_passes import portable

    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    proto = reshape_model(shape or [], computed)
    before = run(proto, x) if shape is None or 0 not in shape else None
    portable(proto)
    assert allowzero_reshapes(proto) == (0 if dropped else 1)
    if before is not None:
        np.testing.assert_array_equal(run(proto, x), before)


def test_allowzero_is_dropped_in_subgraphs_too():
    from onnx import TensorProto, helper

    from dlcli.export.graph_passes import portable

    inner = reshape_model([3, 4]).graph
    del inner.input[:]  # a branch body sees x from the enclosing graph
    cond = helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=inner)
    graph = helper.make_graph([cond], "g", [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                                            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    portable(proto)
    branches = [a.g for a in proto.graph.node[0].attribute]
    assert [allowzero_reshapes_in(g) for g in branches] == [0, 0]


def allowzero_reshapes_in(graph) -> int:
    return sum(1 for n in graph.node if n.op_type == "Reshape" and any(a.name == "allowzero" for a in n.attribute))


def test_exported_flatten_has_no_allowzero():
    """The dynamo exporter writes allowzero=1 on flatten's constant-shape Reshape; onnx2torch refuses it."""
    from tests.export.test_export_contract import inputs, model_for

    items, shape = model_for("flatten")
    proto, exporter, _ = export_checked(build(items, shape), inputs("flatten", shape, 8), DEFAULT_OPSET, [])
    assert exporter == "dynamo" and any(n.op_type == "Reshape" for n in proto.graph.node)
    assert allowzero_reshapes(proto) == 0


# --------------------------------------------------------------------------- scratch files


def test_export_leaves_nothing_in_tmpdir(trained, tmp_path):
    """torch's `torchinductor_<user>/` and ONNX Runtime's `.ses` go to a private folder, removed after.
    A fresh process: in this one both were created long ago."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    p = subprocess.run([sys.executable, "-m", "dlcli", "export", str(trained), "--out", str(tmp_path / "m.onnx")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "m.onnx").is_file() and sorted(os.listdir(scratch)) == []


def test_private_tmpdir_restores_what_was_there(monkeypatch, tmp_path):
    from dlcli.export.scratch import private_tmpdir

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    with private_tmpdir() as folder:
        assert tempfile.gettempdir() == folder and os.environ["TMPDIR"] == folder
        with private_tmpdir() as inner:  # nested: the same folder, not removed by the inner block
            assert inner == folder
        assert os.path.isdir(folder)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(folder, "pinned")  # what torch does on first use
        Path(folder, "left.txt").write_text("x")
    assert not os.path.exists(folder)
    assert os.environ["TMPDIR"] == str(tmp_path) and "TORCHINDUCTOR_CACHE_DIR" not in os.environ
    assert tempfile.tempdir is None and tempfile.gettempdir() == str(tmp_path)


# ---------------------------------------------------------------- dlcli's opset-13 functions


def test_opset13_triu_and_tril_match_torch():
    import torch

    from dlcli.export import onnx_export as ox
    from dlcli.export.parity import check_parity

    class Triangles(torch.nn.Module):
        def forward(self, x):  # (B, C, N, M): float, negative offsets and a bool mask
            return torch.triu(x, 1) + torch.tril(x * 2, -1) + torch.triu(x > 0).float()

    model = Triangles().eval()
    x = np.random.default_rng(0).normal(size=(8, 3, 5, 6)).astype(np.float32)
    proto = ox.export_torchscript(model, (torch.as_tensor(x[:2]),), 13, [], True)
    assert ox.produced_opset(proto) == 13 and "Trilu" not in {n.op_type for n in proto.graph.node}
    assert check_parity(model, proto.SerializeToString(), x, 1e-6, 1e-6)["passed"]
    later = ox.export_torchscript(model, (torch.as_tensor(x[:2]),), 14, [], True)
    assert "Trilu" in {n.op_type for n in later.graph.node}  # torch's own function from 14 on
