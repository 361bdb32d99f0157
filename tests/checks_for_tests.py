"""Small checks used by executor tests; importable by spawned worker processes."""

import os
import signal
import time

from validate.results import CheckResult, Status


class Passing:
    def run(self, context):
        return CheckResult(
            name="ignored", status=Status.PASSED, metrics={"rows": len(context.y_true)}
        )


class Raising:
    def run(self, context):
        raise RuntimeError("model server went away")


class WrongReturn:
    def run(self, context):
        return {"status": "passed"}


class KillsItsWorker:
    def run(self, context):
        os.kill(os.getpid(), signal.SIGKILL)


class Sleepy:
    def __init__(self, seconds=30.0):
        self.seconds = seconds

    def run(self, context):
        time.sleep(self.seconds)
        return CheckResult(name="sleepy", status=Status.PASSED)
