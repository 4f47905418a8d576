"""Tasks, losses and metrics; importing this fills their registries."""
from dlcli.tasks import classification, losses, metrics, regression  # noqa: F401
from dlcli.tasks.base import tasks  # noqa: F401
