"""The supervised run's environment: allocator tuning that users can override, and the
channels to its parent (the request comes through a pipe, never the environment)."""

from __future__ import annotations

from validate.control import CONTROL_FD_ENV
from validate.supervisor import MALLOC_TUNING, REQUEST_FD_ENV, child_environment


def test_the_child_gets_the_allocator_tuning_and_its_channels():
    env = child_environment({"HOME": "/root"}, control_fd=7, request_fd=8)
    assert {k: env[k] for k in MALLOC_TUNING} == MALLOC_TUNING
    assert int(env["MALLOC_MMAP_THRESHOLD_"]) == 64 << 20
    assert int(env["MALLOC_TRIM_THRESHOLD_"]) == 256 << 20
    assert env["HOME"] == "/root" and env[CONTROL_FD_ENV] == "7" and env[REQUEST_FD_ENV] == "8"
    # Model code reads the environment; the request (paths, flags) is not left there.
    assert not [key for key in env if "REQUEST" in key and key != REQUEST_FD_ENV]


def test_a_users_own_allocator_settings_win():
    env = child_environment(
        {"MALLOC_TRIM_THRESHOLD_": "0", "MALLOC_MMAP_THRESHOLD_": "131072"},
        control_fd=3,
        request_fd=4,
    )
    assert env["MALLOC_TRIM_THRESHOLD_"] == "0" and env["MALLOC_MMAP_THRESHOLD_"] == "131072"
