"""Tasks, losses and metrics; importing this fills their registries."""
from dlcli.tasks import autoencoder, classification, gan, language_model, losses, metrics, regression, seq2seq, vae  # noqa: F401
from dlcli.tasks.base import tasks  # noqa: F401
