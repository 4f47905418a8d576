"""What `dlcli validate` says of a task's recipe: the networks it needs, their shapes, its roles,
its data; every message located, exit 2, no traceback."""
from __future__ import annotations

import numpy as np
import pytest

GAN = """
name: g
task: gan
data: {source: digits}
models:
  generator: [{linear: 32}, relu, {linear: auto}]
  discriminator: [flatten, {linear: 32}, relu]
"""


def validate(cli, write, text):
    r = cli("validate", write("r.yaml", text))
    return r.code, " ".join(r.err.split())


@pytest.mark.parametrize("edit, words", [
    (("  discriminator: [flatten, {linear: 32}, relu]\n", ""), ["needs a network `discriminator`", "add models.discriminator"]),
    (("  discriminator:", "  critic: [flatten]\n  discriminator:"), ["unknown network 'critic'", "generator, discriminator"]),
    (("  generator: [{linear: 32}, relu, {linear: auto}]", "  generator: [{linear: 32}, relu, {linear: 10}]"),
     ["the generator must give (1, 8, 8)", "gives (10,)"]),
    (("task: gan", "task: {name: gan, latnet: 4}"), ["task.latnet", "did you mean 'latent'"]),
    (("task: gan", "task: gann"), ["unknown task 'gann'", "did you mean 'gan'"]),
    (("name: g\n", "name: g\ntrain:\n  optimizer: {generatr: {name: adam}, discriminator: {name: sgd}}\n"),
     ["train.optimizer.generatr", "unknown optimizer role 'generatr'", "did you mean 'generator'"]),
    (("name: g\n", "name: g\ntrain: {loss: mse}\n"), ["train.loss", "computes its own losses"]),
    (("models:\n", "model: [relu]\nmodels:\n"), ["not both"]),
])
def test_task_recipe_problems_are_located(cli, write, edit, words):
    code, err = validate(cli, write, GAN.replace(*edit))
    assert code == 2 and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


def test_a_conditional_gan_on_unlabelled_data_is_refused(cli, write, tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((20, 4), np.float32))
    text = GAN.replace("task: gan", "task: cgan").replace("{source: digits}", "{source: {type: npz, path: x.npz}}")
    code, err = validate(cli, write, text.replace("[flatten, ", "["))
    assert code == 2 and "data.source.y" in err and "has no array 'y'" in err  # the labels the task reads are missing


def test_unlabelled_data_without_a_task_asks_for_one(cli, write, tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((20, 4), np.float32))
    code, err = validate(cli, write, "name: u\ndata: {source: {type: npz, path: x.npz}}\nmodel: [{linear: 2}]\n")
    assert code == 2 and "no labels" in err and "autoencoder" in err


def test_a_decoder_may_end_flat_or_in_the_input_shape(cli, write):
    ae = """
name: a
task: {name: autoencoder, code: 4}
data: {source: digits}
models:
  encoder: [flatten, {linear: auto}]
  decoder: DECODER
"""
    for decoder, ok in (("[{linear: auto}]", True), ("[{linear: auto}, {reshape: [1, 8, 8]}]", True),
                        ("[{linear: 32}]", False)):
        code, err = validate(cli, write, ae.replace("DECODER", decoder))
        assert (code == 0) == ok, err
        if not ok:
            assert "the decoder must give (1, 8, 8)" in err and "gives (32,)" in err and "models.decoder" in err


def test_recipe_callbacks_are_checked_and_record_what_they_measure(cli, write, tmp_path):
    import json

    code, err = validate(cli, write, GAN + "train:\n  callbacks: [grad_nrom]\n")
    assert code == 2 and "train.callbacks[0]" in err and "did you mean 'grad_norm'" in err
    code, err = validate(cli, write, GAN + "train:\n  callbacks: [{grad_norm: {every: 2}}]\n")
    assert code == 2 and "train.callbacks[0].every" in err
    r = cli("train", write("r.yaml", GAN + "train:\n  epochs: 1\n  callbacks: [grad_norm]\n"), "--runs-dir", tmp_path,
            "--json")
    assert r.code == 0, r.err
    line = json.loads((tmp_path / "g" / "0001" / "metrics.jsonl").read_text().splitlines()[0])
    assert line["train.grad_norm.generator"] > 0 and line["train.grad_norm.discriminator"] > 0


def test_validate_and_show_describe_every_network(cli, write):
    import json

    path = write("r.yaml", GAN)
    r = cli("validate", path, "--json")
    assert r.code == 0, r.err
    nets = json.loads(r.out)["networks"]
    assert nets["generator"] == {"input_shape": [64], "output_shape": [64], "layers": 3}
    assert nets["discriminator"]["input_shape"] == [1, 8, 8] and nets["discriminator"]["output_shape"] == [32]
    shown = json.loads(cli("show", path, "--json").out)
    assert set(shown["networks"]) == {"generator", "discriminator"}
    assert shown["parameters"] == sum(n["parameters"] for n in shown["networks"].values())
    assert shown["networks"]["generator"]["parameters"] == (64 * 32 + 32) + (32 * 64 + 64)
    assert "generator" in cli("validate", path).out
