"""validate.background: work started on a thread, its result or error collected later."""

from __future__ import annotations

import threading

import pytest

from validate.background import Background


def test_the_result_comes_back():
    assert Background(lambda: 42, name="t").wait() == 42


def test_the_error_is_raised_in_the_waiter():
    def fail():
        raise ValueError("bad store")

    work = Background(fail, name="t")
    with pytest.raises(ValueError, match="bad store"):
        work.wait()
    with pytest.raises(ValueError, match="bad store"):  # every wait says so
        work.wait()


def test_a_wait_with_a_timeout_returns_none_while_the_work_goes_on():
    release = threading.Event()
    work = Background(lambda: release.wait() and "done", name="t")
    assert work.wait(timeout=0.01) is None and not work.done
    release.set()
    assert work.wait() == "done" and work.done
