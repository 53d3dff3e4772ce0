"""SIGALRM step timeouts: a hung block raises, the previous handler comes back, None is no limit."""

from __future__ import annotations

import signal
import time

import pytest

from gato_eval.step_timeout import StepTimeoutError, alarm_available, alarm_handler, deadline


def test_a_block_that_outlives_its_deadline_raises_and_the_old_handler_returns():
    assert alarm_available()  # pytest runs tests in the main thread
    before = signal.getsignal(signal.SIGALRM)
    started = time.perf_counter()
    with alarm_handler(True), pytest.raises(StepTimeoutError), deadline(0.05):
        while True:  # a hung emulator
            time.sleep(0.005)
    assert time.perf_counter() - started < 2
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # disarmed


def test_a_quick_block_and_no_limit_pass_through():
    with alarm_handler(True):
        with deadline(5.0):
            value = 1
        with deadline(None):
            time.sleep(0.01)
    assert value == 1 and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    before = signal.getsignal(signal.SIGALRM)
    with alarm_handler(False):  # disabled: nothing installed
        assert signal.getsignal(signal.SIGALRM) is before
