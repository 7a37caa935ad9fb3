"""How many CPU threads a piece of work uses: torch's intra-op threads and the BLAS threads of numpy
and scipy (through ``threadpoolctl``).

On a CPU shared with other jobs, threads of a pool spin waiting for each other: on this project's
2-core machine, 2 torch threads made map integration and training 5-7x slower than 1 while other
processes ran, and numpy's 2 BLAS threads (its small matrix products in rendering, mapping and path
planning, beside the neural field's mapping thread) held a 256² closed-loop episode
(``benchmarks/loop_throughput.py``) at 9.9 steps/s against 13.0-13.5 with 1. Commands therefore take
a ``--threads`` option (default 1) applied with these.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cpu_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op and BLAS threads, restoring the previous counts after."""
    import torch
    from threadpoolctl import threadpool_limits

    _check(threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(previous)


def set_cpu_threads(threads: int) -> None:
    """Use ``threads`` torch intra-op and BLAS threads from now on in this process (a command's or a worker's)."""
    import torch
    from threadpoolctl import threadpool_limits

    _check(threads)
    torch.set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")


def _check(threads: int) -> None:
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
