"""Starting the Spark driver for ``validate run`` with its console kept off validate's.

The driver JVM's stderr carries Spark's log, every failed task's Java and Python stack
traces and what model code prints on the executors. On validate's stderr it would bury
the one-line error, break ``--log-format json``, and a task cancelled after the job
failed logs after that line. So the run process (the CLI without ``--debug``) starts the
JVM itself, as pyspark would, with its stdout and stderr on a pipe that a thread drains
(:class:`ConsoleTail`), keeping only the last lines in memory. Those lines are read only
when the session fails to start, before any model code runs, to name why (spark-submit
refusing a master, a bad JVM option, no Java); Spark's exceptions name the rest.

Left as Spark runs them: ``--debug``, in-process callers (the pytest plugin, the API),
and a JVM already running in the process (or given by ``PYSPARK_GATEWAY_PORT``). Spark
Connect is refused before (:func:`connect_source`): the engine needs a classic session.
"""

from __future__ import annotations

import collections
import os
import re
import threading

from validate.log_lines import libraries_quiet

# A line of Spark's default log4j layout: "26/12/03 14:44:45 ERROR Class: message".
_LOG_LINE = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) (.*)$")


class ConsoleTail:
    """A pipe for a process's console: drained on a daemon thread for as long as anything
    holds its write end (a full pipe would stall the JVM), keeping only the last lines, in
    memory: a model printing without end on the executors fills neither memory nor disk."""

    def __init__(self, keep: int = 20) -> None:
        read_end, self.write_end = os.pipe()
        self._lines: collections.deque[str] = collections.deque(maxlen=keep)
        self._open = True
        self._thread = threading.Thread(target=self._drain, args=(read_end,), daemon=True)
        self._thread.start()

    def _drain(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb") as source:
            while chunk := source.readline(1 << 16):
                text = chunk.decode(errors="replace").strip()
                if text and not text.startswith(("at ", "... ")):  # not a Java stack frame
                    self._lines.append(text[:300])

    def close_write_end(self) -> None:
        if self._open:
            self._open = False
            os.close(self.write_end)

    def lines(self, wait_s: float) -> list[str]:
        """The kept lines (stack frames left out), once every writer is gone or after
        ``wait_s``: a JVM that is still running keeps its write end."""
        self._thread.join(timeout=wait_s)
        return list(self._lines)

    def problem(self, wait_s: float, *, exited: bool) -> str | None:
        """What the console said went wrong: its last ERROR lines; from a JVM that
        ``exited`` at start, whose console is only about that, its last lines (Spark's
        own log lines of lower levels and the JVM's warnings left out). Joined, bounded."""
        kept = self.lines(wait_s)
        logged = [_LOG_LINE.match(line) for line in kept]
        said = [f"{m[1]} {m[2]}" for m in logged if m and m[1] in ("ERROR", "FATAL")][-2:]
        if not said and exited:
            said = [
                line
                for line, m in zip(kept, logged, strict=True)
                if not m and not line.startswith(("WARNING:", "Using Spark's default log4j"))
            ][-3:]
        return " | ".join(said)[:600] or None


class QuietDriver:
    """The driver JVM the run process starts itself, its console on a :class:`ConsoleTail`
    (see the module's docstring)."""

    def __init__(self) -> None:
        self.console = ConsoleTail()
        self.jvm_exited = False

    def start(self, master: str, app_name: str, conf: dict[str, str]) -> None:
        """Start the JVM and its SparkContext (the session builder then reuses it), unless
        one is already running."""
        from pyspark import SparkConf, SparkContext
        from pyspark.java_gateway import launch_gateway

        try:
            with SparkContext._lock:  # as pyspark's own start-up: one JVM however many threads
                if SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ:
                    return
                spark_conf = SparkConf().setMaster(master).setAppName(app_name)
                spark_conf.setAll(list(conf.items()))
                output = {"stdout": self.console.write_end, "stderr": self.console.write_end}
                try:
                    gateway = launch_gateway(spark_conf, popen_kwargs=output)
                except Exception:
                    self.jvm_exited = True
                    raise
                SparkContext(conf=spark_conf, gateway=gateway)
        finally:
            self.console.close_write_end()  # the JVM holds its own copy while it runs


def quiet_driver() -> QuietDriver | None:
    """A :class:`QuietDriver` to start, or None where Spark is left to start the driver as
    it does (``--debug``, in-process callers)."""
    return QuietDriver() if libraries_quiet() else None


def start_failure_reason(exc: BaseException, driver: QuietDriver | None) -> str:
    """Why the session did not start: the Java exception Py4J wraps (its first line only
    names the call), and what the driver's console said went wrong."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = (lines[0] if lines else type(exc).__name__)[:300]
    if reason.startswith("An error occurred while calling"):
        reason = next((line[2:302] for line in lines if line.startswith(": ")), reason)
    if driver is None:
        return reason
    # A JVM still running keeps its write end: wait only for the lines of the last moment.
    said = driver.console.problem(wait_s=2 if driver.jvm_exited else 0.5, exited=driver.jvm_exited)
    return f"{reason}; Spark said: {said}" if said else reason


def connect_source(conf: dict[str, str]) -> tuple[str, str] | None:
    """What would make the session builder start Spark Connect instead of a classic
    session, decided as pyspark decides (``spark.remote``, ``SPARK_REMOTE``, a Connect-only
    install, its API mode), and how to undo it; None when nothing would."""
    if "spark.remote" in conf:
        return "engine.conf spark.remote asks for Spark Connect", "remove it"
    for variable in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED"):
        if variable in os.environ:
            return f"the environment variable {variable} asks for Spark Connect", "unset it"
    try:
        from pyspark.util import default_api_mode, is_remote_only
    except ImportError:  # pyspark before 4: Connect only where a remote is named
        return None
    if is_remote_only():
        return "this pyspark is a Spark Connect client only", "install pyspark itself"
    mode = conf.get("spark.api.mode", os.environ.get("SPARK_API_MODE", "")).lower()
    if mode not in ("classic", "connect"):
        mode = default_api_mode()
    if mode == "connect":
        return "Spark's API mode is connect", "set SPARK_API_MODE to classic"
    return None
