"""Autoencoders, VAEs and GANs against known answers: PCA for a linear autoencoder, the KL of a
posterior equal to the prior, the importance-weighted bound below the ELBO, and what the losses
of the two GAN players are on a discriminator that cannot tell."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT


def train(cli, recipe: Path, tmp_path: Path, *sets: str) -> dict:
    args = [a for s in sets for a in ("--set", s)]
    r = cli("train", recipe, "--runs-dir", tmp_path / "runs", "--json", *args)
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_a_linear_autoencoder_matches_pca_within_two_percent(cli, tmp_path):
    record = train(cli, ROOT / "recipes" / "digits-linear-ae.yaml", tmp_path)
    train_split = record["metrics"]["train"]
    assert train_split["mse"] == pytest.approx(train_split["pca_mse"], rel=0.02)
    assert train_split["mse"] >= train_split["pca_mse"] * (1 - 1e-6)  # PCA is the optimum on the data it was fitted on


def test_pca_mse_is_the_reconstruction_error_of_sklearn_pca(cli, tmp_path):
    from sklearn.decomposition import PCA

    from dlcli.workflows.runs import load_run

    record = train(cli, ROOT / "recipes" / "digits-linear-ae.yaml", tmp_path, "train.epochs=1")
    _, fit = load_run(Path(record["run"]))
    x = fit.data.x["train"].reshape(fit.data.size("train"), -1).double().numpy()
    pca = PCA(n_components=8).fit(x)
    expected = float(np.mean((pca.inverse_transform(pca.transform(x)) - x) ** 2))
    assert record["metrics"]["train"]["pca_mse"] == pytest.approx(expected, rel=1e-6)


def sparse_task(kind: str):
    from dlcli.tasks.autoencoder import Autoencoder, AutoencoderArgs, Sparsity

    return Autoencoder(AutoencoderArgs(code=2, sparsity=Sparsity(kind=kind, weight=1.0, target=0.1)))


def test_the_sparsity_penalties_have_their_textbook_values():
    import torch

    code = torch.tensor([[0.0, 2.0], [0.0, -2.0]])
    assert sparse_task("l1").penalty(code).item() == pytest.approx(1.0)  # mean |code|
    # each unit's mean sigmoid is 0.5: sigmoid(0) = 0.5, and (sigmoid(2) + sigmoid(-2)) / 2 = 0.5
    kl = 0.1 * math.log(0.1 / 0.5) + 0.9 * math.log(0.9 / 0.5)
    assert sparse_task("kl").penalty(code).item() == pytest.approx(2 * kl, rel=1e-5)


def test_a_posterior_equal_to_the_prior_has_no_kl_and_iw_nll_is_below_the_elbo(cli, tmp_path):
    record = train(cli, ROOT / "recipes" / "digits-vae.yaml", tmp_path, "train.epochs=3")
    for split in ("val", "test"):
        m = record["metrics"][split]
        assert m["elbo"] == pytest.approx(-(m["recon"] + m["kl"]))
        assert m["kl"] >= 0 and m["nll"] <= -m["elbo"] + 1e-6
    import torch

    from dlcli.tasks.vae import VAE

    mu, logvar = torch.zeros(3, 4), torch.zeros(3, 4)
    assert (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)).abs().max().item() == 0  # the formula terms() uses
    assert VAE().logged("val") == ["loss", "elbo", "recon", "kl", "nll"]


def test_the_vae_picks_a_bernoulli_decoder_for_data_in_the_unit_interval(cli, tmp_path):
    from dlcli.workflows.runs import load_run

    minmax = train(cli, ROOT / "recipes" / "digits-vae.yaml", tmp_path, "train.epochs=1")
    _, fit = load_run(Path(minmax["run"]))
    assert fit.task.bernoulli(fit)
    standard = train(cli, ROOT / "recipes" / "digits-vae.yaml", tmp_path, "train.epochs=1", "data.normalize=standard")
    _, fit = load_run(Path(standard["run"]))
    assert not fit.task.bernoulli(fit) and "heads.log_scale" in fit.model.state_dict()


def test_gan_losses_on_a_discriminator_that_cannot_tell_are_log_4_and_log_2():
    import torch

    from dlcli.tasks.gan import GAN, LOG4

    task = GAN()
    undecided = torch.zeros(16)  # logit 0: probability 1/2 for every sample
    assert task.d_loss(undecided, undecided).item() == pytest.approx(LOG4)
    assert task.g_loss(undecided).item() == pytest.approx(math.log(2))


def test_a_lost_generator_is_warned_about_once(capsys):
    from types import SimpleNamespace

    from dlcli.tasks.gan import GeneratorLost

    watch = GeneratorLost(epochs=3)
    fit = SimpleNamespace(dist=SimpleNamespace(main=True))
    for epoch in range(1, 8):
        watch.on_epoch_end(fit, {"epoch": epoch, "train.d_loss": 0.01}, None)
    err = capsys.readouterr().err
    assert err.count("the generator has lost") == 1 and "log 4" in err


def test_gan_training_logs_both_players_and_scores_the_modes(cli, tmp_path):
    from dlcli.tasks import tasks

    path = tmp_path / "g.yaml"
    path.write_text("name: g\nseed: 0\n" + tasks.get("gan").example.lstrip())
    record = train(cli, path, tmp_path)
    line = json.loads((Path(record["run"]) / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"train.d_loss", "train.g_loss", "train.d_real", "train.d_fake", "lr.generator", "lr.discriminator",
            "val.modes_captured", "val.high_quality", "val.reverse_kl"} <= set(line)
    assert line["lr.generator"] == pytest.approx(2e-4)  # the task's default, DCGAN's
    assert 0 <= line["val.modes_captured"] <= 8 and 0 <= line["val.high_quality"] <= 1


def test_plots_are_drawn_when_training_ends(cli, tmp_path):
    record = train(cli, ROOT / "recipes" / "digits-vae.yaml", tmp_path, "train.epochs=1", "train.plots=true")
    plots = Path(record["run"]) / "plots"
    for name in ("curves.png", "curves.csv", "reconstructions.png", "samples.png"):
        assert (plots / name).is_file(), name
    header = (plots / "curves.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "train.recon", "train.kl", "val.nll"} <= set(header)
