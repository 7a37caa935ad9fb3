"""Where a neural field's per-frame training runs: inline or on a mapping thread, in order, bounded."""

import threading
import time

import pytest

from perception.field_training import BackgroundTraining, InlineTraining


def test_inline_training_runs_work_at_once():
    done = []
    InlineTraining().submit(lambda: done.append(1))
    assert done == [1]


def test_background_training_runs_work_in_order_off_the_caller_thread():
    training = BackgroundTraining(max_queued=3)
    order, threads = [], set()

    def work(i):
        time.sleep(0.002)
        order.append(i)
        threads.add(threading.get_ident())

    for i in range(10):
        training.submit(lambda i=i: work(i))
    training.wait()
    assert order == list(range(10))
    assert threads and threading.get_ident() not in threads
    training.close()


def test_submit_blocks_while_max_queued_frames_wait():
    training = BackgroundTraining(max_queued=1)
    release = threading.Event()
    started = []

    def work(i):
        started.append(i)
        release.wait(5)

    training.submit(lambda: work(0))  # runs
    training.submit(lambda: work(1))  # queued
    submitter = threading.Thread(target=lambda: training.submit(lambda: work(2)))
    submitter.start()
    submitter.join(0.2)
    assert submitter.is_alive()  # a second queued frame waits for the running one
    release.set()
    submitter.join(5)
    assert not submitter.is_alive()
    training.wait()
    assert started == [0, 1, 2]
    training.close()


def test_an_error_is_raised_by_the_next_wait_and_later_work_still_runs():
    training = BackgroundTraining()
    done = []

    def fail():
        raise RuntimeError("frame 0 failed")

    training.submit(fail)
    training.submit(lambda: done.append(1))
    with pytest.raises(RuntimeError, match="frame 0 failed"):
        training.wait()
    assert done == [1]
    training.wait()  # reported once
    training.close()
    with pytest.raises(ValueError, match="max_queued"):
        BackgroundTraining(max_queued=-1)
