"""Fixtures shared by every test package."""

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch intra-op and BLAS thread for a test module: on a CPU shared with other jobs, more
    threads make small work many times slower (they spin waiting for each other). Restored afterwards."""
    from agent.threads import cpu_threads

    with cpu_threads(1):
        yield
