"""Where a neural field lives and its per-frame training runs: ``InlineTraining`` (in the caller's
thread, as the frame arrives), ``BackgroundTraining`` (on one mapping thread, as SLAM systems run
mapping beside tracking) or ``ProcessTraining`` (in one mapping process).

A map hands its field (``perception.neural_field.NeuralField``) to ``start`` once, then each frame's
training to ``submit`` (a method name and its arguments) and every read of the field to ``call``,
which returns the method's result after all submitted work has run. The work runs strictly in
submission order on one thread, and nothing touches the field except through ``submit`` and ``call``,
so all three build the same field, operation for operation, with the caller's torch thread count.

The background kinds let the agent render, plan its path and record while the field's gradient steps
run. A thread shares the GIL with the agent (the field's step is hundreds of small torch ops, each
taking it back); a process has its own interpreter and pays for sending each frame (a few MB at 256²)
and each read's answer. On this project's 2-core machine a 256² episode ran at 13.2-14.1 steps/s
with a process against 13.0-13.5 with a thread (``benchmarks/loop_throughput.py``, one BLAS thread).
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import traceback
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import torch


class FieldTraining(Protocol):
    def start(self, field: Any) -> None:
        """Take ``field``, the object all later work runs on; once, before any work."""

    def submit(self, method: str, *args: Any) -> None:
        """Run ``field.method(*args)`` (one frame's training), now or later, after all work submitted
        before it; its result is dropped and an error it raises comes out of the next ``wait`` or ``call``."""

    def call(self, method: str, *args: Any) -> Any:
        """Return ``field.method(*args)``, run after all submitted work (whose first error it raises)."""

    def wait(self) -> None:
        """Return once all submitted work has run; re-raise the first error any of it raised."""

    def close(self) -> None:
        """Finish the submitted work and release the thread or process (a later call restarts it)."""


class InlineTraining:
    """Runs each frame's training at once, in the caller's thread."""

    def __init__(self) -> None:
        self._field: Any = None

    def start(self, field: Any) -> None:
        self._field = _started(self._field, field)

    def submit(self, method: str, *args: Any) -> None:
        getattr(self._field, method)(*args)

    def call(self, method: str, *args: Any) -> Any:
        return getattr(self._field, method)(*args)

    def wait(self) -> None:
        return None

    def close(self) -> None:
        return None


class BackgroundTraining:
    """Runs each frame's training on one worker thread, in submission order (see module doc); reads
    (``call``) run in the caller's thread once the queue is empty.

    At most ``max_queued`` frames' work waits behind the one running: ``submit`` blocks until the
    oldest is done, so a caller faster than the field's training cannot pile up frames (and their
    feature images) without bound. The thread starts with the first submitted work. An error in a
    frame's work is raised by the next ``wait`` (the queued work after it still runs, so the field
    stays in submission order)."""

    def __init__(self, max_queued: int = 1) -> None:
        self.max_queued = _checked_max_queued(max_queued)
        self._field: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []  # submitted work not yet waited for, oldest first

    def start(self, field: Any) -> None:
        self._field = _started(self._field, field)

    def submit(self, method: str, *args: Any) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nav3d-field-training")
        # torch's thread count is per thread (OpenMP): the work runs with the submitter's, as inline
        self._pending.append(self._executor.submit(_with_threads, getattr(self._field, method), args, torch.get_num_threads()))
        while sum(not f.done() for f in self._pending) > self.max_queued + 1:
            next(f for f in self._pending if not f.done()).exception()  # blocks until the oldest running work ends
        self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]

    def call(self, method: str, *args: Any) -> Any:
        self.wait()
        return getattr(self._field, method)(*args)

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        errors = [e for e in (f.exception() for f in pending) if e is not None]
        if errors:
            raise errors[0]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.wait()


class ProcessTraining:
    """Keeps the field in one mapping process (started with the first work, from a ``forkserver``
    that has imported torch and the field's module) and runs its training and reads there, in
    submission order (see module doc).

    ``max_queued`` bounds the frames waiting behind the running one as for ``BackgroundTraining``.
    An error in the process's work is raised in the caller, as it was raised there (the process's
    traceback added as a note). The process ends with ``close``, when this object is collected, or
    when the caller's process exits (``close`` takes the field back first); a daemonic process (a
    ``multiprocessing.Pool`` worker) may not start one: use ``BackgroundTraining`` there. As with
    any start method but fork, the process imports the caller's main script again, so a script that
    builds such a map keeps its work under ``if __name__ == "__main__":``."""

    PRELOAD = ["torch", "perception.neural_field"]

    def __init__(self, max_queued: int = 1) -> None:
        self.max_queued = _checked_max_queued(max_queued)
        self._field: Any = None  # held until the process starts, then only there
        self._process: multiprocessing.Process | None = None
        self._connection = None
        self._unanswered = 0  # submitted work whose answer has not been read
        self._error: BaseException | None = None  # the first error of submitted work, until raised
        self._stop: weakref.finalize | None = None

    def start(self, field: Any) -> None:
        self._field = _started(self._field, field)

    def submit(self, method: str, *args: Any) -> None:
        self._send("submit", method, args)
        self._unanswered += 1
        while self._unanswered > self.max_queued + 1:
            self._read_answer()

    def call(self, method: str, *args: Any) -> Any:
        self.wait()
        self._send("call", method, args)
        kind, value = self._receive()
        if kind == "error":
            raise value
        return value

    def wait(self) -> None:
        while self._unanswered:
            self._read_answer()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Finish the submitted work, take the field back and end the process (a later call starts
        another with it)."""
        if self._process is None:
            return
        try:
            self.wait()
        finally:
            _put(self._connection, ("close", "", (), 0))
            kind, field = self._receive()
            self._stop()
            self._process = self._connection = self._stop = None
            self._field = field

    def _send(self, kind: str, method: str, args: tuple) -> None:
        if self._field is None and self._process is None:
            raise RuntimeError("ProcessTraining: start(field) must come before any work")
        if self._process is None:
            self._launch()
        _put(self._connection, (kind, method, args, torch.get_num_threads()))

    def _launch(self) -> None:
        if multiprocessing.current_process().daemon:
            raise RuntimeError(
                "ProcessTraining cannot start a mapping process from a daemonic process (such as a "
                "multiprocessing.Pool worker): use BackgroundTraining there"
            )
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(self.PRELOAD)
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs,), name="nav3d-field-training", daemon=True)
        process.start()
        theirs.close()
        _put(ours, self._field)
        self._process, self._connection, self._field = process, ours, None
        self._stop = weakref.finalize(self, _stop_process, process, ours)

    def _read_answer(self) -> None:
        kind, value = self._receive()
        self._unanswered -= 1
        if kind == "error" and self._error is None:
            self._error = value

    def _receive(self) -> tuple[str, Any]:
        try:
            return _take(self._connection)
        except (EOFError, ConnectionError) as e:
            code = self._process.exitcode if self._process is not None else None
            raise RuntimeError(f"the mapping process ended unexpectedly (exit code {code}); the field is lost: build the map again") from e


def _serve(connection) -> None:
    """The mapping process: receive the field, then run each message's method on it in order and
    answer every message (``("done", None)``, ``("result", value)`` or ``("error", exception)``);
    ``close`` sends the field back and ends, as does ``None`` (sending nothing) or a closed pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle; it stops us
    field = _take(connection)
    while True:
        try:
            message = _take(connection)
        except EOFError:
            return
        if message is None:
            return
        kind, method, args, threads = message
        if kind == "close":
            _put(connection, ("result", field))
            return
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        try:
            value = getattr(field, method)(*args)
            answer = ("result", value) if kind == "call" else ("done", None)
        except Exception as error:
            error.add_note(f"raised in the mapping process:\n{traceback.format_exc()}")
            answer = ("error", error)
        try:
            _put(connection, answer)
        except Exception as unsendable:  # an answer pickle cannot carry
            _put(connection, ("error", RuntimeError(f"the mapping process could not send its answer to {method}: {unsendable!r}")))


def _put(connection, message: Any) -> None:
    """Send ``message`` with plain pickle: tensors travel as bytes (multiprocessing's own pickler
    would move them into shared memory that only lives while the sender does)."""
    connection.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _take(connection) -> Any:
    return pickle.loads(connection.recv_bytes())


def _stop_process(process: multiprocessing.Process, connection) -> None:
    try:
        _put(connection, None)
    except (OSError, ValueError):
        pass
    process.join(timeout=10)
    if process.is_alive():
        process.terminate()
        process.join()
    connection.close()


def _started(current: Any, field: Any) -> Any:
    if current is not None:
        raise RuntimeError("a field training already holds a field: use one per map")
    return field


def _checked_max_queued(max_queued: int) -> int:
    if max_queued < 0:
        raise ValueError(f"max_queued must be >= 0, got {max_queued}")
    return max_queued


def _with_threads(work: Any, args: tuple, threads: int) -> None:
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    work(*args)
