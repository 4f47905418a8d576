import pytest


@pytest.fixture(autouse=True)
def restore_torch_globals():
    """lock and check turn deterministic algorithms on and may pin threads, process-wide."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(threads)
