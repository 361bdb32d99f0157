"""The pipe that keeps the Spark driver JVM's console off validate's own output
(``validate.engines.spark.ConsoleTail``): drained however much is written, only the last
lines kept, Java stack frames skipped. Real processes write to it; no Java needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed")

from validate.engines.spark import ConsoleTail  # noqa: E402


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


def test_a_process_writing_far_more_than_a_pipe_holds_finishes_and_the_last_line_is_kept():
    console = ConsoleTail(keep=3)
    code = "import sys\nfor i in range(200_000): print(i)\nprint('the end', file=sys.stderr)"
    assert write_through(console, code) == 0
    assert console.last_line(wait_s=60) == "the end"
    assert len(console._lines) == 3


def test_java_stack_frames_and_blank_lines_are_not_the_last_line():
    console = ConsoleTail()
    code = (
        "print('Exception in thread \"main\" org.apache.spark.SparkException: no master')\n"
        "print('\\tat org.apache.spark.deploy.SparkSubmit.main(SparkSubmit.scala)')\n"
        "print('\\t... 3 more')\n"
        "print('   ')"
    )
    assert write_through(console, code) == 0
    said = console.last_line(wait_s=60)
    assert said == 'Exception in thread "main" org.apache.spark.SparkException: no master'


def test_a_line_without_an_end_is_kept_in_pieces_of_bounded_length():
    console = ConsoleTail(keep=2)
    code = "import sys\nsys.stdout.write('x' * 5_000_000)"
    assert write_through(console, code) == 0
    said = console.last_line(wait_s=60)
    assert said is not None and set(said) == {"x"} and len(said) == 300


def test_nothing_written_is_no_line():
    console = ConsoleTail()
    assert write_through(console, "pass") == 0
    assert console.last_line(wait_s=60) is None
