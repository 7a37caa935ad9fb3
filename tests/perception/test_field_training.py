"""Where a neural field lives and its training runs: inline, on a mapping thread or in a mapping
process; in order, bounded, errors raised in the caller."""

import os
import threading
import time

import pytest

from perception.field_training import BackgroundTraining, InlineTraining, ProcessTraining

BACKGROUND = [BackgroundTraining, ProcessTraining]


class Recorder:
    """A stand-in field (module level, so a mapping process can unpickle it): records where each piece of work ran."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, int, int]] = []  # (work, process id, thread id)

    def work(self, i: int, seconds: float = 0.0) -> None:
        time.sleep(seconds)
        self.entries.append((i, os.getpid(), threading.get_ident()))

    def fail(self, message: str) -> None:
        raise RuntimeError(message)

    def exit(self) -> None:
        os._exit(3)

    def done(self) -> list[int]:
        return [i for i, _, _ in self.entries]

    def places(self) -> set[tuple[int, int]]:
        return {(pid, thread) for _, pid, thread in self.entries}


def test_inline_training_runs_work_at_once():
    training = InlineTraining()
    field = Recorder()
    training.start(field)
    training.submit("work", 1)
    assert field.done() == [1] == training.call("done")
    assert field.places() == {(os.getpid(), threading.get_ident())}


@pytest.mark.parametrize("kind", BACKGROUND)
def test_background_training_runs_work_in_order_off_the_caller(kind):
    training = kind(max_queued=3)
    training.start(Recorder())
    for i in range(10):
        training.submit("work", i, 0.002)
    assert training.call("done") == list(range(10))
    places = training.call("places")
    assert len(places) == 1 and (os.getpid(), threading.get_ident()) not in places
    if kind is ProcessTraining:
        assert next(iter(places))[0] != os.getpid()
    training.close()


@pytest.mark.parametrize("kind", BACKGROUND)
def test_submit_blocks_while_max_queued_frames_wait(kind):
    training = kind(max_queued=1)
    training.start(Recorder())
    training.call("done")  # started
    began = time.perf_counter()
    training.submit("work", 0, 0.4)  # runs
    training.submit("work", 1, 0.0)  # queued
    assert time.perf_counter() - began < 0.3
    training.submit("work", 2, 0.0)  # a second queued frame waits for the running one
    assert time.perf_counter() - began > 0.35
    assert training.call("done") == [0, 1, 2]
    training.close()


@pytest.mark.parametrize("kind", BACKGROUND)
def test_an_error_is_raised_by_the_next_wait_and_later_work_still_runs(kind):
    training = kind()
    training.start(Recorder())
    training.submit("fail", "frame 0 failed")
    training.submit("work", 1)
    with pytest.raises(RuntimeError, match="frame 0 failed"):
        training.wait()
    training.wait()  # reported once
    assert training.call("done") == [1]
    with pytest.raises(RuntimeError, match="a read failed"):
        training.call("fail", "a read failed")
    training.close()


def test_a_closed_process_training_keeps_its_field():
    training = ProcessTraining()
    training.start(Recorder())
    training.submit("work", 0)
    training.close()
    training.submit("work", 1)  # a new process, with the field the last one gave back
    assert training.call("done") == [0, 1]
    training.close()


def test_a_mapping_process_that_dies_is_reported():
    training = ProcessTraining()
    training.start(Recorder())
    training.submit("exit")
    with pytest.raises(RuntimeError, match="mapping process ended unexpectedly"):
        training.wait()


def test_misuse_is_refused():
    for kind in (InlineTraining, *BACKGROUND):
        training = kind()
        training.start(Recorder())
        with pytest.raises(RuntimeError, match="already holds a field"):
            training.start(Recorder())
    with pytest.raises(RuntimeError, match="start"):
        ProcessTraining().submit("work", 0)
    for kind in BACKGROUND:
        with pytest.raises(ValueError, match="max_queued"):
            kind(max_queued=-1)
