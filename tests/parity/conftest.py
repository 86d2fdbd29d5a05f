"""Shared access to the release's golden outputs (tests/fixtures/release/README.md)."""
import os

import numpy as np
import pytest

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "release")


def load_fixture(name):
    """The arrays of ``tests/fixtures/release/<name>.npz`` as a dict."""
    with np.load(os.path.join(FIXTURES, name + ".npz")) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="session")
def golden():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = load_fixture(name)
        return cache[name]

    return get
