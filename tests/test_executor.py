import numpy as np
import pandas as pd
import pytest
from checks_for_tests import KillsItsWorker, Passing, Raising, WrongReturn

from validate.check import CheckContext
from validate.executors.local import execute_local
from validate.registry import SelectedCheck
from validate.results import Status


@pytest.fixture
def context():
    y = np.array([0, 1, 0, 1])
    return CheckContext(
        task="binary",
        target="y",
        features=("x",),
        eval_data=pd.DataFrame({"x": [0.1, 0.9, 0.2, 0.8]}),
        y_true=y,
        candidate_scores=np.array([0.1, 0.9, 0.2, 0.8]),
    )


def selected(name, check, blocking=True):
    return SelectedCheck(name=name, blocking=blocking, check=check, source="tests")


def test_raising_check_becomes_error_and_others_go_on(context):
    results = execute_local([selected("boom", Raising()), selected("fine", Passing())], context)
    assert [r.status for r in results] == [Status.ERROR, Status.PASSED]
    assert results[0].message == "check raised RuntimeError: model server went away"
    assert "Traceback" in results[0].details["traceback"]
    assert results[1].name == "fine" and results[1].metrics == {"rows": 4}


def test_non_result_return_is_an_error(context):
    (result,) = execute_local([selected("odd", WrongReturn(), blocking=False)], context)
    assert result.status is Status.ERROR and "not CheckResult" in result.message
    assert result.blocking is False


def test_worker_processes_keep_config_order(context):
    checks = [selected("boom", Raising()), selected("a", Passing()), selected("b", Passing())]
    results = execute_local(checks, context, jobs=2)
    assert [r.name for r in results] == ["boom", "a", "b"]
    assert [r.status for r in results] == [Status.ERROR, Status.PASSED, Status.PASSED]


def test_killed_worker_becomes_error_not_hang(context):
    results = execute_local(
        [selected("killer", KillsItsWorker()), selected("a", Passing())], context, jobs=2
    )
    killer = results[0]
    assert killer.status is Status.ERROR
    assert "worker process died" in killer.message
