"""The seq2seq task: decoding against hand-worked answers, the decoder's causality and memory
checked at validate, per-length figures, and decoded strings that agree between PyTorch and
ONNX Runtime (`dlcli predict`), encoder-decoder and decoder-only."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dlcli.tasks.decoding import beam, decode, greedy, log_softmax, scores, until_eos
from dlcli.tasks.metrics import metrics
from dlcli.tasks.seq2seq_data import right_aligned, used_columns

PAD, BOS, EOS = 0, 1, 2
SPECIAL = {"pad": PAD, "bos": BOS, "eos": EOS}

REVERSE = """
name: rev
seed: 3
task: {name: seq2seq, eval_samples: 40}
data: {source: {type: reverse, samples: 400, vocab: 4, max_len: 4, longer: 12}}
models:
  encoder: [{embedding: {dim: 16}}, {gru: {hidden: 32, return: sequence}}]
  decoder: [{embedding: {dim: 16}}, {gru: {hidden: 32, return: sequence}}, {cross_attention: additive}, {linear: auto}]
train: {epochs: 3, batch_size: 32, optimizer: {name: adam, lr: 0.01}}
"""


def table_step(table: dict, vocab: int):
    """A step function from {prefix tuple: next-token probabilities}: a toy model with known answers."""
    def step(prefix):
        rows = [np.log(np.maximum(np.asarray(table.get(tuple(p.tolist()), onehot(EOS, vocab)), float), 1e-30))
                for p in prefix]
        return np.stack(rows)
    return step


def onehot(i, n):
    v = np.zeros(n)
    v[i] = 1.0
    return v


# ------------------------------------------------------------------------------ decoding

def test_greedy_takes_the_likeliest_token_and_stops_at_eos():
    table = {(BOS,): [0, 0, 0.1, 0.6, 0.3], (BOS, 3): [0, 0, 0.2, 0.1, 0.7], (BOS, 3, 4): [0, 0, 0.9, 0.1, 0]}
    out = greedy(table_step(table, 5), 1, 6, BOS, EOS, PAD)
    assert out.tolist() == [[3, 4, EOS, PAD, PAD, PAD]]
    assert until_eos(out, EOS, PAD) == [[3, 4]]


def test_beam_finds_the_likelier_sequence_greedy_misses():
    # greedy: 3 (0.6) then 4 (0.4) then eos: p = 0.24; beam: 4 (0.4) then eos (1.0): p = 0.4
    table = {(BOS,): [0, 0, 0, 0.6, 0.4], (BOS, 3): [0, 0, 0.3, 0.3, 0.4], (BOS, 3, 4): [0, 0, 1, 0, 0],
             (BOS, 3, 3): [0, 0, 1, 0, 0], (BOS, 4): [0, 0, 1.0, 0, 0]}
    step = table_step(table, 5)
    assert until_eos(greedy(step, 1, 5, BOS, EOS, PAD), EOS, PAD) == [[3, 4]]
    assert until_eos(beam(step, 1, 5, BOS, EOS, PAD, width=2, alpha=0.0), EOS, PAD) == [[4]]


def test_beam_of_width_one_is_greedy_on_a_real_network():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Embedding(7, 8), torch.nn.GRU(8, 16, batch_first=True))
    head = torch.nn.Linear(16, 7)

    def step(prefix):
        with torch.no_grad():
            return log_softmax(head(net(torch.as_tensor(prefix))[0])[:, -1].numpy())

    g = greedy(step, 5, 9, BOS, EOS, PAD)
    assert np.array_equal(beam(step, 5, 9, BOS, EOS, PAD, width=1), g)
    assert np.array_equal(decode(step, 5, 9, SPECIAL, "beam", 1), g)
    wide = beam(step, 5, 9, BOS, EOS, PAD, width=3, alpha=0.0)
    assert wide.shape == (5, 9)
    for row in wide.tolist():  # after an <eos> only <pad>
        end = row.index(EOS) if EOS in row else len(row)
        assert all(t == PAD for t in row[end + 1:]) and PAD not in row[:end]


def test_length_penalty_prefers_longer_finished_beams():
    # one short answer (p = 0.4) against a longer one (0.6 * 0.6 = 0.36): alpha 0 picks the short one
    table = {(BOS,): [0, 0, 0.4, 0.6, 0], (BOS, 3): [0, 0, 0.6, 0.4, 0], (BOS, 3, 3): [0, 0, 1, 0, 0]}
    step = table_step(table, 5)
    assert until_eos(beam(step, 1, 5, BOS, EOS, PAD, width=2, alpha=0.0), EOS, PAD) == [[]]
    assert until_eos(beam(step, 1, 5, BOS, EOS, PAD, width=2, alpha=2.0), EOS, PAD) == [[3]]


def test_scores_count_each_target_token_and_its_eos():
    y = np.array([[3, 4, EOS, PAD], [5, EOS, PAD, PAD]])
    out = np.array([[3, 4, EOS, PAD], [5, 6, EOS, PAD]])
    right, total = scores(out, y, PAD)
    assert right.tolist() == [3, 1] and total.tolist() == [3, 2]
    assert metrics.get("token_accuracy")()(out, y) == pytest.approx(4 / 5)
    assert metrics.get("sequence_accuracy")()(out, y) == pytest.approx(1 / 2)
    assert metrics.get("sequence_accuracy")()(out[:, :1], y) == 0.0  # cut short: no <eos>, not exact


def test_right_aligned_moves_tokens_to_the_end():
    x = torch.tensor([[3, 4, 0, 0], [5, 6, 7, 8], [9, 0, 0, 0]])
    assert right_aligned(x).tolist() == [[0, 0, 3, 4], [5, 6, 7, 8], [0, 0, 0, 9]]
    assert used_columns(x[:, :3]) == 3 and used_columns(torch.tensor([[3, 0, 0]])) == 1


# ------------------------------------------------------------------------------ validate

def bad(write, cli, models: str, extra: str = "") -> str:
    path = write("s.yaml", f"""
        name: s
        task: {{name: seq2seq{extra}}}
        data: {{source: {{type: copy, samples: 100}}}}
        {models}
        """)
    r = cli("validate", path)
    assert r.code == 2 and "Traceback" not in r.err, r.err
    return r.err


def test_a_decoder_that_looks_ahead_is_refused_where_it_is(write, cli):
    err = bad(write, cli, "models: {encoder: [{embedding: {dim: 8}}, {gru: {hidden: 8, return: sequence}}], decoder: "
                          "[{embedding: {dim: 8}}, {gru: {hidden: 8, bidirectional: true, return: sequence}}, "
                          "{cross_attention: dot}, {linear: auto}]}")
    assert "models.decoder[1].gru" in err and "bidirectional: false" in err and "later" in err
    err = bad(write, cli, "models: {encoder: [{embedding: {dim: 8}}], decoder: [{embedding: {dim: 8}}, {attention: 2}, "
                          "{cross_attention: dot}, {linear: auto}]}")
    assert "models.decoder[1].attention" in err and "causal: true" in err


def test_a_decoder_must_read_the_encoder(write, cli):
    err = bad(write, cli, "models: {encoder: [{embedding: {dim: 8}}], decoder: [{embedding: {dim: 8}}, {gru: {hidden: 8, return: "
                          "sequence}}, {linear: auto}]}")
    assert "models.decoder" in err and "never reads the encoder" in err and "cross_attention" in err


def test_attention_over_the_encoder_needs_a_sequence_of_states(write, cli):
    err = bad(write, cli, "models: {encoder: [{embedding: {dim: 8}}, {gru: 8}], decoder: [{embedding: {dim: 8}}, "
                          "{cross_attention: dot}, {linear: auto}]}")
    assert "models.decoder[1].cross_attention" in err and "sequence of encoder states" in err and "return: sequence" in err
    err = bad(write, cli, "model: [{embedding: {dim: 8}}, {cross_attention: dot}, {linear: auto}]", ", decoder_only: true")
    assert "model[1].cross_attention" in err and "reads none" in err


def test_transformer_decoder_width_must_match_the_encoder(write, cli):
    err = bad(write, cli, "models: {encoder: [{embedding: {dim: 8}}, positional], decoder: [{embedding: {dim: 16}}, "
                          "{transformer_decoder: {depth: 1, heads: 2}}, {linear: auto}]}")
    assert "models.decoder[1].transformer_decoder" in err and "width 8" in err and "linear: 16" in err


def test_a_broken_encoder_is_reported_once_not_again_through_the_decoder(write, cli):
    err = bad(write, cli, "models: {encoder: [{embeding: 8}], decoder: [{embedding: {dim: 8}}, {cross_attention: dot}, "
                          "{linear: auto}]}")
    assert "models.encoder[0]" in err and "did you mean 'embedding'" in err and "cross_attention" not in err


def test_seq2seq_data_for_another_task_and_the_other_way_round(write, cli):
    path = write("c.yaml", """
        name: c
        task: classification
        data: {source: {type: copy, samples: 100}}
        model: [{embedding: {dim: 8}}, flatten, {linear: auto}]
        """)
    r = cli("validate", path)
    assert r.code == 2 and "target token sequences" in r.err
    path = write("s.yaml", """
        name: s
        task: seq2seq
        data: {source: iris}
        models: {encoder: [{linear: 8}], decoder: [{linear: 8}]}
        """)
    r = cli("validate", path)
    assert r.code == 2 and "seq2seq" in r.err and "target token sequences" in r.err


# ------------------------------------------------------------------------------ train, export, predict

@pytest.fixture(scope="module")
def reverse_run(tmp_path_factory):
    """One trained and exported reverse run, shared by the tests below (training costs seconds)."""
    from typer.testing import CliRunner

    from dlcli.cli.app import app

    folder = tmp_path_factory.mktemp("rev")
    (folder / "rev.yaml").write_text(REVERSE)
    runner = CliRunner()
    r = runner.invoke(app, ["train", str(folder / "rev.yaml"), "--runs-dir", str(folder / "runs"), "--json"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    r = runner.invoke(app, ["export", record["run"], "--json"])
    assert r.exit_code == 0, r.output
    return record, json.loads(r.stdout)


def test_metrics_per_length_flag_the_lengths_beyond_training(reverse_run):
    record, _ = reverse_run
    test = record["metrics"]["test"]
    rows = {r["length"]: r for r in test["per_length"]}
    assert sorted(rows) == list(range(1, 9))  # 1..4 trained, 5..8 longer
    assert [rows[n]["beyond_training"] for n in sorted(rows)] == [False] * 4 + [True] * 4
    assert all(rows[n]["samples"] == 12 for n in range(5, 9)) and all(r["decoded"] <= 40 for r in rows.values())
    decoded = sum(r["decoded"] for r in rows.values())
    exact = sum(r["sequence_accuracy"] * r["decoded"] for r in rows.values())
    assert test["sequence_accuracy"] == pytest.approx(exact / decoded)
    assert 0.0 <= test["token_accuracy"] <= 1.0 and math.isfinite(test["loss"])
    assert record["metrics"]["val"]["sequence_accuracy"] > 0.2  # 3 epochs learn reversal of short strings well on the way


def test_export_writes_encoder_and_decoder_with_dynamic_lengths(reverse_run):
    _, report = reverse_run
    modules = report["modules"]
    assert set(modules) == {"encoder", "decoder"}
    for m in modules.values():
        assert m["exporter"] == "dynamo" and m["parity"]["passed"] and not m["notes"]
        assert len(m["parity"]["shapes"]) == 2  # gated at the training length and the longest test length
    shapes = modules["decoder"]["parity"]["shapes"]
    assert shapes[0][1][1] != shapes[1][1][1]  # the memory's length differs between the two gates


def test_predict_decodes_like_pytorch(reverse_run, tmp_path, cli):
    from pathlib import Path

    from dlcli.workflows.runs import load_run

    record, _ = reverse_run
    sources = ["abc", "dcba", "a", "abcdab", "bbbbbbbb"]
    (tmp_path / "src.txt").write_text("\n".join(sources) + "\n\n")
    r = cli("predict", record["run"], tmp_path / "src.txt", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert [p["source"] for p in doc["predictions"]] == sources and doc["task"] == "seq2seq"
    _, fit = load_run(Path(record["run"]))
    vocab = fit.data.dataset.info.vocab
    x = torch.zeros((len(sources), 8), dtype=torch.long)
    for i, s in enumerate(sources):
        x[i, :len(s)] = torch.tensor([vocab.index(c) for c in s])
    fit.train_mode(False)
    with torch.no_grad():
        ids = fit.task.decode(fit.nets, x, 18, fit)
    expected = ["".join(vocab[t] for t in row) for row in until_eos(ids, EOS, PAD)]
    assert [p["output"] for p in doc["predictions"]] == expected
    r = cli("predict", record["run"], tmp_path / "src.txt")  # piped: row <tab> output
    assert r.out.splitlines() == [f"{i}\t{o}" for i, o in enumerate(expected)]


def test_predict_refuses_symbols_outside_the_vocabulary(reverse_run, tmp_path, cli):
    record, _ = reverse_run
    (tmp_path / "src.txt").write_text("abc\nabz\n")
    r = cli("predict", record["run"], tmp_path / "src.txt")
    assert r.code == 2 and "source 2" in r.err and "'z'" in r.err and "a b c d" in r.err


def test_attention_maps_are_drawn(reverse_run, monkeypatch):
    from pathlib import Path

    from dlcli.workflows.runs import load_run

    record, _ = reverse_run
    _, fit = load_run(Path(record["run"]))
    folder = Path(record["run"]) / "pictures"
    folder.mkdir()
    paths = fit.task.pictures(fit, folder)
    assert [p.name for p in paths] == ["attention.png", "attention.json"]
    maps = json.loads((folder / "attention.json").read_text())["maps"]
    assert len(maps) == 4
    for m in maps:
        w = np.array(m["weights"])
        assert w.shape == (len(m["output"]), len(m["source"])) and np.allclose(w.sum(1), 1.0, atol=1e-4)
        assert set(m["source"]) <= set("abcd") | {"<pad>"} and m["source"][0] != "<pad>"


# ------------------------------------------------------------------------------ other forms

def test_decoder_only_beam_and_csv_pairs_train_export_and_predict(write, cli, tmp_path):
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcd"), rng.integers(1, 5))) for _ in range(300)]
    (tmp_path / "pairs.csv").write_text("src,tgt\n" + "".join(f"{w},{w.upper()}\n" for w in words))
    path = write("up.yaml", """
        name: up
        seed: 0
        task: {name: seq2seq, decoder_only: true, decode: beam, beam: 3}
        data: {source: {type: csv, path: pairs.csv, source: src, target: tgt}}
        model: [{embedding: {dim: 16}}, {lstm: {hidden: 48, return: sequence}}, {linear: auto}]
        train: {epochs: 4, batch_size: 32, optimizer: {name: adam, lr: 0.01}}
        """)
    r = cli("train", path, "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.err
    record = json.loads(r.out)
    assert record["networks"] == ["net"] and "per_length" in record["metrics"]["test"]
    assert not any(row["beyond_training"] for row in record["metrics"]["test"]["per_length"])
    r = cli("export", record["run"], "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["file"].endswith("model.onnx") and report["parity"]["passed"]
    (tmp_path / "new.csv").write_text("tgt,src\nx,abc\ny,dd\nz,ab!\n")  # its own column order; '!' is unseen
    r = cli("predict", record["run"], tmp_path / "new.csv", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert [p["source"] for p in doc["predictions"]] == ["abc", "dd", "ab!"] and doc["decode"] == "beam"
    assert "'!'" in doc["note"] and "<unk>" in doc["note"]
    assert all(set(p["output"]) <= set("ABCD<unk>") for p in doc["predictions"])
