"""Shared fixtures: where the built library and test tools are (set by meson test)."""
import os
import subprocess

import numpy as np
import pytest


@pytest.fixture(scope="session")
def xcheck_tool():
    path = os.environ.get("AMXQ_XCHECK_TOOL")
    if not path or not os.path.exists(path):
        pytest.fail("AMXQ_XCHECK_TOOL is not set to the built xcheck_tool (run through meson test)")

    def run(*args, data: bytes) -> bytes:
        r = subprocess.run([path, *args], input=data, capture_output=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"xcheck_tool {' '.join(args)} failed: {r.stderr.decode()}")
        return r.stdout

    return run


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)
