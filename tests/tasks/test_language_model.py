"""The language_model task: its figures against hand computations, its bad input, and sampling
that gives the same text through ONNX Runtime and PyTorch."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dlcli.tasks.language_model import bigram_entropy, draw, eval_windows, unigram_entropy

TEXT = "the cat sat on the mat. a dog ran to the cat. " * 60

LM = """
name: lm
seed: 1
task: {name: language_model, context: 12}
data: {source: {type: text, path: c.txt}}
model: [{embedding: {dim: 8}}, {gru: {hidden: 16, return: sequence}}, {linear: auto}]
train: {epochs: 2, batch_size: 16}
"""


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "c.txt").write_text(TEXT)
    return tmp_path / "c.txt"


def test_entropies_match_their_definitions():
    ids = np.array([0, 1, 0, 1, 0, 2])
    p = np.array([3, 2, 1]) / 6
    assert unigram_entropy(ids) == pytest.approx(-(p * np.log2(p)).sum())
    # pairs: 01 10 01 10 02 -> after 0: 1, 1, 2 (H = h(2/3)); after 1: 0, 0 (H = 0); P(prev 0) = 3/5
    h = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert bigram_entropy(ids, 3) == pytest.approx(3 / 5 * h)


def test_eval_windows_predict_every_token_after_the_first_once():
    import torch

    ids = torch.arange(30)
    windows = list(eval_windows(ids, context=7, batch=2))
    targets = torch.cat([w[:, 1:].reshape(-1) for w in windows])
    assert targets.tolist() == list(range(1, 30))
    assert all(w.shape[1] <= 8 for w in windows)


def test_draw_follows_temperature_and_top_k():
    rng = np.random.default_rng(0)
    scores = np.array([1.0, 3.0, 2.0, -1.0])
    assert {draw(scores, 1.0, 1, rng) for _ in range(20)} == {1}  # top-1 is the argmax
    assert {draw(scores, 1e-3, None, rng) for _ in range(20)} == {1}  # a cold temperature too
    drawn = [draw(scores, 1.0, 2, rng) for _ in range(2000)]
    assert set(drawn) == {1, 2}
    assert np.mean(np.array(drawn) == 1) == pytest.approx(1 / (1 + math.exp(-1)), abs=0.04)


def test_training_reports_per_token_and_per_character_figures(cli, write, corpus, tmp_path):
    r = cli("train", write("lm.yaml", LM), "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.err
    record = json.loads(r.out)
    val = record["metrics"]["val"]
    assert val["perplexity"] == pytest.approx(math.exp(val["loss"]))
    assert val["bits_per_char"] == pytest.approx(val["loss"] / math.log(2))  # a char tokenizer: a token is a character
    train_chars = TEXT[:int(len(TEXT) * 0.8)]
    counts = np.array([train_chars.count(c) for c in sorted(set(train_chars))])
    p = counts / counts.sum()
    assert val["unigram_entropy"] == pytest.approx(-(p * np.log2(p)).sum(), rel=0.02)  # rows drop a partial tail
    assert val["bigram_entropy"] < val["unigram_entropy"]
    lines = (tmp_path / "runs" / "lm" / "0001" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


@pytest.mark.parametrize("edit, words", [
    (("context: 12", "context: 5000"), ["task.context", "context 5000", "train split holds"]),
    (("data: {source: {type: text, path: c.txt}}", "data: {source: {type: text, path: c.txt}, normalize: standard}"),
     ["data.normalize", "token ids of a text"]),
    (("task: {name: language_model, context: 12}", "task: {name: autoencoder, code: 2}"),
     ["task", "the autoencoder task cannot train on this data", "train a language_model"]),
    (("data: {source: {type: text, path: c.txt}}", "data: {source: digits}"),
     ["the language_model task cannot train on this data", "use a text source"]),
])
def test_bad_language_model_recipes_are_located(cli, write, corpus, edit, words):
    r = cli("validate", write("lm.yaml", LM.replace(*edit)))
    err = " ".join(r.err.split())
    assert r.code == 2 and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


def test_a_text_without_a_task_trains_a_language_model(cli, write, corpus):
    r = cli("validate", write("lm.yaml", LM.replace("task: {name: language_model, context: 12}\n", "")), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["task"] == "language_model"


def test_sampling_gives_the_same_text_through_onnx_runtime_and_pytorch(cli, write, corpus, tmp_path):
    r = cli("train", write("lm.yaml", LM.replace("context: 12", "context: 24")), "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.err
    run = json.loads(r.out)["run"]
    r = cli("export", run, "--json")
    assert r.code == 0, r.err
    parity = json.loads(r.out)["parity"]  # traced short, gated there and at the whole context
    assert parity["passed"] and parity["shapes"] == [[4, 16], [2, 24]]
    texts = {}
    for engine in ("onnxruntime", "pytorch"):
        r = cli("sample", run, "--prompt", "the c", "--length", "40", "--temperature", "0.8", "--top-k", "5",
                "--seed", "7", "--engine", engine, "--json")
        assert r.code == 0, r.err
        doc = json.loads(r.out)
        assert doc["engine"] == engine and len(doc["tokens"]) == 40
        texts[engine] = doc["text"]
    assert texts["onnxruntime"] == texts["pytorch"] and set(texts["pytorch"]) <= set(TEXT)
    plain = cli("sample", run, "--prompt", "the c", "--length", "40", "--temperature", "0.8", "--top-k", "5",
                "--seed", "7")
    assert plain.out == "the c" + texts["onnxruntime"] + "\n"  # streamed: the prompt, then the text
    other = cli("sample", run, "--prompt", "the c", "--length", "40", "--seed", "8", "--json")
    assert json.loads(other.out)["text"] != texts["pytorch"]


@pytest.mark.parametrize("args, words", [
    (["--temperature", "0"], "--temperature must be above 0"),
    (["--length", "0"], "--length must be at least 1"),
    (["--top-k", "0"], "--top-k must be at least 1"),
    (["--prompt", "the zebra", "--strict"], "outside the run's vocabulary: 'b', 'z'"),
])
def test_bad_sampling_options_exit_2(cli, write, corpus, tmp_path, args, words):
    r = cli("train", write("lm.yaml", LM.replace("epochs: 2", "epochs: 1")), "--runs-dir", tmp_path / "runs", "--json")
    run = json.loads(r.out)["run"]
    args = args if "--prompt" in args else ["--prompt", "the", *args]
    r = cli("sample", run, *args)
    assert r.code == 2 and words in " ".join(r.err.split()) and "Traceback" not in r.err
    if "--strict" in args:  # without it: a warning, and <unk> in their place
        r = cli("sample", run, "--prompt", "the zebra", "--length", "3", "--json")
        assert r.code == 0 and "each reads as <unk>" in " ".join(r.err.split())
