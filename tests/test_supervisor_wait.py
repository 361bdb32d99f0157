"""The supervisor learns of its child's exit from a pidfd, not by polling (issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from validate import supervisor


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="pidfds are Linux 5.3+")
def test_a_pidfd_reports_the_exit_status():
    child = _child("import sys; sys.exit(7)")
    with supervisor._exit_signal(child.pid) as exited:
        assert exited is not None
        code = None
        while code is None:
            code = supervisor._wait_a_while(child, exited, timeout=5)
    assert code == 7


@pytest.mark.parametrize("use_pidfd", [True, False])
def test_a_running_child_is_still_running_after_the_timeout(use_pidfd):
    child = _child("import time; time.sleep(60)")
    try:
        with supervisor._exit_signal(child.pid) as exited:
            assert (
                supervisor._wait_a_while(child, exited if use_pidfd else None, timeout=0.05) is None
            )
    finally:
        child.kill()
        child.wait()


def test_without_a_pidfd_the_status_comes_from_popen():
    child = _child("import sys; sys.exit(3)")
    code = None
    while code is None:
        code = supervisor._wait_a_while(child, None, timeout=5)
    assert code == 3


def test_a_child_reaped_already_needs_no_pidfd():
    child = _child("pass")
    child.wait()
    with supervisor._exit_signal(child.pid) as exited:
        assert supervisor._wait_a_while(child, exited, timeout=5) == 0


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="pidfds are Linux 5.3+")
def test_a_pidfd_numbered_past_select_s_limit_works():
    # A host process with many files open (a pytest session, a notebook) gets a pidfd past
    # 1023, which select() refuses.
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if max(soft, hard if hard != resource.RLIM_INFINITY else 4096) < 1501:
        pytest.skip("the file limit here is below 1501")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1501), hard))
    child = _child("import sys; sys.exit(5)")
    try:
        with supervisor._exit_signal(child.pid) as exited:
            assert exited is not None
            high = os.dup2(exited, 1500)
            try:
                code = None
                while code is None:
                    code = supervisor._wait_a_while(child, high, timeout=5)
            finally:
                os.close(high)
        assert code == 5
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
