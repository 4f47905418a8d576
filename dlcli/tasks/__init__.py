"""Tasks, losses and metrics; importing this fills their registries."""
from dlcli.tasks import autoencoder, classification, gan, losses, metrics, regression, vae  # noqa: F401
from dlcli.tasks.base import tasks  # noqa: F401
