"""The pipe that keeps the Spark driver JVM's console off validate's own output
(``validate.engines.spark_driver``): drained however much is written, only the last lines
kept, Java stack frames skipped, the lines that say what went wrong picked. Real
processes write to it; no Java needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed")

from validate import log_lines  # noqa: E402
from validate.engines.spark_driver import ConsoleTail, connect_source, quiet_driver  # noqa: E402


def write_through(console: ConsoleTail, code: str) -> int:
    child = subprocess.run(
        [sys.executable, "-c", code],
        stdout=console.write_end,
        stderr=console.write_end,
        timeout=120,
        check=False,
    )
    console.close_write_end()
    return child.returncode


def test_a_process_writing_far_more_than_a_pipe_holds_finishes_and_the_last_lines_are_kept():
    console = ConsoleTail(keep=3)
    code = "import sys\nfor i in range(200_000): print(i)\nprint('the end', file=sys.stderr)"
    assert write_through(console, code) == 0
    assert console.lines(wait_s=60) == ["199998", "199999", "the end"]


def console_said(lines: list[str], *, exited: bool) -> str | None:
    """What :meth:`ConsoleTail.problem` makes of a process printing ``lines``."""
    console = ConsoleTail()
    assert write_through(console, f"for line in {lines!r}: print(line)") == 0
    return console.problem(wait_s=60, exited=exited)


def test_a_jvm_exiting_at_start_is_named_by_its_last_lines_not_stack_frames_or_warnings():
    said = console_said(
        [
            "WARNING: Using incubator modules: jdk.incubator.vector",
            "Invalid maximum heap size: -Xmxabc",
            "Error: Could not create the Java Virtual Machine.",
            "\tat org.apache.spark.deploy.SparkSubmit.main(SparkSubmit.scala)",
            "\t... 3 more",
            "26/12/03 14:43:43 WARN NativeCodeLoader: Unable to load native-hadoop library",
            "   ",
        ],
        exited=True,
    )
    assert said == (
        "Invalid maximum heap size: -Xmxabc | Error: Could not create the Java Virtual Machine."
    )


def test_a_running_jvm_is_named_by_its_last_error_lines_only():
    said = console_said(
        [
            "26/12/03 14:44:05 WARN StandaloneAppClient: Failed to connect to master",
            "Caused by: java.net.ConnectException: Connection refused",
            "26/12/03 14:44:45 ERROR StandaloneSchedulerBackend: All masters are unresponsive!",
            "26/12/03 14:44:47 WARN StandaloneAppClient: Drop UnregisterApplication",
        ],
        exited=False,
    )
    assert said == "ERROR StandaloneSchedulerBackend: All masters are unresponsive!"


def test_without_error_lines_a_running_jvm_says_nothing_and_an_exited_one_its_last_lines():
    assert console_said(["one", "two"], exited=False) is None
    assert console_said(["one", "two"], exited=True) == "one | two"
    assert console_said([], exited=True) is None


def test_a_line_without_an_end_is_kept_in_pieces_of_bounded_length():
    console = ConsoleTail(keep=2)
    code = "import sys\nsys.stdout.write('x' * 5_000_000)"
    assert write_through(console, code) == 0
    kept = console.lines(wait_s=60)
    assert len(kept) == 2 and all(line == "x" * 300 for line in kept)


@pytest.mark.parametrize("debug", [None, True], ids=["in-process", "cli-debug"])
def test_spark_is_left_to_start_itself_outside_the_cli_and_under_debug(debug):
    """Only the CLI without --debug quiets the driver."""
    saved = log_lines._debug[:]
    log_lines._debug[:] = [debug]
    try:
        assert quiet_driver() is None
    finally:
        log_lines._debug[:] = saved


def test_what_asks_for_spark_connect_is_named_with_its_fix(monkeypatch):
    """The engine needs a classic session; session() refuses whatever would start Connect."""
    for variable in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_API_MODE"):
        monkeypatch.delenv(variable, raising=False)
    assert connect_source({}) is None
    assert connect_source({"spark.remote": "sc://127.0.0.1:15002"}) == (
        "engine.conf spark.remote asks for Spark Connect",
        "remove it",
    )
    assert connect_source({"spark.api.mode": "connect"}) == (
        "Spark's API mode is connect",
        "set SPARK_API_MODE to classic",
    )
    monkeypatch.setenv("SPARK_API_MODE", "connect")
    assert connect_source({}) == ("Spark's API mode is connect", "set SPARK_API_MODE to classic")
    assert connect_source({"spark.api.mode": "classic"}) is None  # the property wins, as in Spark
    monkeypatch.delenv("SPARK_API_MODE")
    for variable in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED"):
        monkeypatch.setenv(variable, "sc://127.0.0.1:15002")
        assert connect_source({}) == (
            f"the environment variable {variable} asks for Spark Connect",
            "unset it",
        )
        monkeypatch.delenv(variable)
