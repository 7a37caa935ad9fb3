"""Where a neural-field map's per-frame training runs: ``InlineTraining`` (in the caller's thread, as
the frame arrives) or ``BackgroundTraining`` (on one mapping thread, as SLAM systems run mapping
beside tracking).

A map hands each frame's training to ``submit`` and calls ``wait`` before anything reads or changes
the field outside that work. The work runs strictly in submission order on one thread, and the
caller never touches the field while work is queued, so both kinds build the same field, operation
for operation; the background one only lets the agent render, plan its path and record while the
field's gradient steps run (torch and most numpy calls release the GIL).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import torch


class FieldTraining(Protocol):
    def submit(self, work: Callable[[], None]) -> None:
        """Run ``work`` (one frame's training), now or later, after all work submitted before it."""

    def wait(self) -> None:
        """Return once all submitted work has run; re-raise the first error any of it raised."""


class InlineTraining:
    """Runs each frame's training at once, in the caller's thread."""

    def submit(self, work: Callable[[], None]) -> None:
        work()

    def wait(self) -> None:
        return None


class BackgroundTraining:
    """Runs each frame's training on one worker thread, in submission order (see module doc).

    At most ``max_queued`` frames' work waits behind the one running: ``submit`` blocks until the
    oldest is done, so a caller faster than the field's training cannot pile up frames (and their
    feature images) without bound. The thread starts with the first submitted work. An error in a
    frame's work is raised by the next ``wait`` (the queued work after it still runs, so the field
    stays in submission order)."""

    def __init__(self, max_queued: int = 1) -> None:
        if max_queued < 0:
            raise ValueError(f"max_queued must be >= 0, got {max_queued}")
        self.max_queued = max_queued
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []  # submitted work not yet waited for, oldest first

    def submit(self, work: Callable[[], None]) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nav3d-field-training")
        # torch's thread count is per thread (OpenMP): the work runs with the submitter's, as inline
        self._pending.append(self._executor.submit(_with_threads, work, torch.get_num_threads()))
        while sum(not f.done() for f in self._pending) > self.max_queued + 1:
            next(f for f in self._pending if not f.done()).exception()  # blocks until the oldest running work ends
        self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        errors = [e for e in (f.exception() for f in pending) if e is not None]
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Finish the queued work and stop the thread (a later ``submit`` starts a new one)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.wait()


def _with_threads(work: Callable[[], None], threads: int) -> None:
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    work()
