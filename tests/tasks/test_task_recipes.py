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


AE_ONE = """
name: one
seed: 3
task: {name: autoencoder, code: 4}
data: {source: digits}
model: [flatten, {linear: 16}, relu, {linear: auto}, bottleneck, {linear: 16}, relu, {linear: auto}]
train: {epochs: 1, batch_size: 256}
"""
AE_TWO = AE_ONE.replace(
    "model: [flatten, {linear: 16}, relu, {linear: auto}, bottleneck, {linear: 16}, relu, {linear: auto}]",
    "models:\n  encoder: [flatten, {linear: 16}, relu, {linear: auto}]\n  decoder: [{linear: 16}, relu, {linear: auto}]")


def test_one_model_split_at_its_bottleneck_trains_the_same_weights_as_two(cli, write, tmp_path):
    from safetensors.torch import load_file

    weights = []
    for name, text in (("one", AE_ONE), ("two", AE_TWO.replace("name: one", "name: two"))):
        r = cli("train", write(f"{name}.yaml", text), "--runs-dir", tmp_path, "--json")
        assert r.code == 0, r.err
        weights.append(load_file(tmp_path / name / "0001" / "checkpoints" / "best.safetensors"))
    assert weights[0].keys() == weights[1].keys() and any(k.startswith("decoder.") for k in weights[0])
    assert all(weights[0][k].equal(weights[1][k]) for k in weights[0])


@pytest.mark.parametrize("edit, words", [
    ((", bottleneck", ""), ["model:", "needs exactly one `bottleneck` layer", "found 0",
                            "models: {encoder: [...], decoder: [...]}"]),
    (("relu, {linear: auto}]", "bottleneck, {linear: auto}]"), ["model[6]", "found 2"]),
    (("bottleneck, {linear: 16}, relu", "bottleneck, {linear: 16}, rleu"), ["model[6]", "unknown layer 'rleu'"]),
    (("model: [flatten", "model: {layers: [flatten"), None),  # closed below
    (("model: [flatten, {linear: 16}, relu, {linear: auto}, bottleneck, {linear: 16}, relu, {linear: auto}]",
      "model: {mlp: {hidden: [16]}}"), ["one model for the autoencoder task is a list of layers with a `bottleneck`"]),
])
def test_one_model_problems_are_located_in_its_list(cli, write, edit, words):
    text = AE_ONE.replace(*edit)
    if words is None:  # {layers: [...], init: ...}: the same split, the layer paths under `layers`
        text = text.replace("{linear: auto}]\ntrain", "{linear: auto}, {linear: 9}], init: xaviar}\ntrain")
        words = ["model.init", "did you mean 'xavier", "model.layers[8]", "the decoder must give (1, 8, 8)"]
    code, err = validate(cli, write, text)
    assert code == 2 and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    assert err.count("model.init") <= 1  # one list, one problem, though it plans two networks


def test_a_vae_takes_one_model_too(cli, write):
    text = AE_ONE.replace("{name: autoencoder, code: 4}", "{name: vae, latent: 2}").replace(
        "relu, {linear: auto}, bottleneck", "relu, bottleneck")
    r = cli("validate", write("v.yaml", text), "--json")
    assert r.code == 0, r.err
    import json

    nets = json.loads(r.out)["networks"]
    assert nets["encoder"]["output_shape"] == [16] and nets["decoder"]["input_shape"] == [2]
