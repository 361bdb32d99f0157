"""The supervised run's environment: allocator tuning that users can override."""

from __future__ import annotations

import json

from validate.control import CONTROL_FD_ENV
from validate.supervisor import MALLOC_TUNING, REQUEST_ENV, child_environment


def test_the_child_gets_the_allocator_tuning_and_the_request():
    env = child_environment({"HOME": "/root"}, control_fd=7, request={"config": "v.yaml"})
    assert {k: env[k] for k in MALLOC_TUNING} == MALLOC_TUNING
    assert int(env["MALLOC_MMAP_THRESHOLD_"]) == 64 << 20
    assert int(env["MALLOC_TRIM_THRESHOLD_"]) == 256 << 20
    assert env["HOME"] == "/root" and env[CONTROL_FD_ENV] == "7"
    assert json.loads(env[REQUEST_ENV]) == {"config": "v.yaml"}


def test_a_users_own_allocator_settings_win():
    env = child_environment(
        {"MALLOC_TRIM_THRESHOLD_": "0", "MALLOC_MMAP_THRESHOLD_": "131072"},
        control_fd=3,
        request={},
    )
    assert env["MALLOC_TRIM_THRESHOLD_"] == "0" and env["MALLOC_MMAP_THRESHOLD_"] == "131072"
