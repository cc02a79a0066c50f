"""Shared fixtures: one micro-scale data stage per test session (building it takes seconds)."""

from __future__ import annotations

import pytest

from mda_bench.pipeline import prepare_data
from mda_bench.scales import get_scale
from mda_bench.store import Store


@pytest.fixture(scope="session")
def micro():
    return get_scale("micro")


@pytest.fixture(scope="session")
def micro_store(tmp_path_factory):
    return Store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def micro_data(micro, micro_store):
    return prepare_data(micro, micro_store, log=lambda m: None)
