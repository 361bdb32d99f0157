"""A real Spark standalone cluster on 127.0.0.1 for tests: one master and two workers, each
its own JVM process (``spark-class org.apache.spark.deploy.master.Master`` / ``Worker``
from the pyspark package), started and stopped by :func:`standalone_cluster`."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

# Everything the Spark JVMs and Python workers need to stay on loopback and small.
LOOPBACK_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "512m",
    "spark.sql.shuffle.partitions": "2",
    "spark.python.worker.reuse": "true",
}


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def spark_env(extra_pythonpath: str) -> dict[str, str]:
    """The environment for Spark processes: loopback only, this Python, this checkout."""
    import sys

    env = dict(os.environ)
    env.update(
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOCAL_HOSTNAME="localhost",
        SPARK_HOME=str(spark_home()),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_DAEMON_MEMORY="256m",
        PYTHONPATH=os.pathsep.join(p for p in (extra_pythonpath, env.get("PYTHONPATH")) if p),
    )
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(predicate: object, what: str, deadline_s: float, logs: list[Path]) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.5)
    tails = "\n".join(
        f"--- {p}\n{p.read_text(errors='replace')[-2000:]}" for p in logs if p.exists()
    )
    raise RuntimeError(f"{what} did not come up within {deadline_s:.0f} s\n{tails}")


@contextlib.contextmanager
def standalone_cluster(
    folder: Path, env: dict[str, str], workers: int = 2, worker_memory: str = "512m"
) -> Iterator[str]:
    """Start a master and ``workers`` workers (1 core and ``worker_memory`` each); yield the
    master URL; stop them all, by their process ids, when the body ends. An application
    asking for more executor memory than a worker offers waits for executors forever."""
    spark_class = str(spark_home() / "bin" / "spark-class")
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(name: str, *args: str) -> None:
        log = folder / f"{name}.log"
        logs.append(log)
        handle = log.open("wb")
        processes.append(
            subprocess.Popen(
                [spark_class, *args],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        )

    try:
        start(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(free_port()),
        )  # fmt: skip
        _wait_for(lambda: _listening(port), "the Spark master", 240, logs)
        for index in range(workers):
            work = folder / f"work-{index}"
            work.mkdir(exist_ok=True)
            start(
                f"worker-{index}",
                "org.apache.spark.deploy.worker.Worker", url,
                "--host", "127.0.0.1", "--cores", "1", "--memory", worker_memory,
                "--webui-port", str(free_port()), "--work-dir", str(work),
            )  # fmt: skip

        def registered() -> bool:
            worker_logs = [log for log in logs[1:] if log.exists()]
            return len(worker_logs) == workers and all(
                "Successfully registered with master" in log.read_text(errors="replace")
                for log in worker_logs
            )

        _wait_for(registered, "the Spark workers", 240, logs)
        yield url
    finally:
        for process in reversed(processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 9)
                process.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0
