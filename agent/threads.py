"""How many CPU threads torch uses for a piece of work.

On a CPU shared with other jobs, torch's intra-op threads spin waiting for each other: on this
project's 2-core machine, 2 threads made map integration and training 5-7x slower than 1 while other
processes ran. Commands therefore take a ``--threads`` option (default 1) applied with this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads, restoring the previous count after."""
    import torch

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
