"""Runs trained and exported once for every predict test module (each takes a few seconds)."""
from __future__ import annotations

import pytest

from tests.conftest import TINY
from tests.export.test_predict import DIGITS, train_and_export


@pytest.fixture(scope="session")
def exported_runs(tmp_path_factory):
    return tmp_path_factory.mktemp("exported")


@pytest.fixture(scope="session")
def digits_run(exported_runs):
    return train_and_export(exported_runs, "digits", DIGITS)


@pytest.fixture(scope="session")
def iris_run(exported_runs):
    return train_and_export(exported_runs, "tiny", TINY)
