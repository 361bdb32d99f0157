"""How the Kubernetes executor names a Job's failure, on a fake clock and real API objects.

The cluster suite (tests/k8s) shows the same on a real control plane; these pin the two
rules a lagging Job controller exposed there: a Job past its activeDeadlineSeconds is an
error even when the controller has not stopped it, and the Job's DeadlineExceeded is not
overwritten by the pod's own "Completed".
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateTerminated,
    V1ContainerStatus,
    V1Job,
    V1JobSpec,
    V1JobStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodStatus,
)

from validate.check import Status
from validate.executors import kubernetes as executor
from validate.kubernetes_settings import KubernetesSection
from validate.registry import SelectedCheck


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class DeletionsSeen:
    """The one batch call the judging path makes; remembers which Jobs it deleted."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_namespaced_job(self, name, namespace, body=None):
        self.deleted.append(name)


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(executor.time, "monotonic", fake)
    return fake


@pytest.fixture
def run(monkeypatch) -> executor.KubernetesRun:
    monkeypatch.setattr(executor, "connect", lambda settings: (DeletionsSeen(), None))
    return executor.KubernetesRun(settings=KubernetesSection(image="validate:test"))


def job(clock: FakeClock, deadline: int | None = 8) -> executor._Job:
    check = SelectedCheck(name="waiter", blocking=True, check=object(), source="test")
    return executor._Job(
        check=check, name="validate-waiter-abc", created=clock.now, deadline_seconds=deadline
    )


def pod(reason: str, exit_code: int, message: str = "") -> V1Pod:
    terminated = V1ContainerStateTerminated(exit_code=exit_code, reason=reason, message=message)
    status = V1ContainerStatus(
        name="check",
        image="validate:test",
        image_id="",
        ready=False,
        restart_count=0,
        state=V1ContainerState(terminated=terminated),
    )
    meta = V1ObjectMeta(name="validate-waiter-abc-x", creation_timestamp=datetime.now(timezone.utc))
    return V1Pod(metadata=meta, status=V1PodStatus(container_statuses=[status]))


def job_event(name: str = "validate-waiter-abc", *, started: bool = True, suspend=None) -> V1Job:
    status = V1JobStatus(start_time=datetime.now(timezone.utc) if started else None)
    return V1Job(
        metadata=V1ObjectMeta(name=name),
        spec=V1JobSpec(template={}, suspend=suspend),
        status=status,
    )


def test_a_job_the_controller_does_not_stop_is_an_error_after_the_grace(run, clock):
    waiting = job(clock)
    clock.now += 100  # created long ago, but started only now: the deadline counts from here
    assert run._judge(waiting, "job", job_event()) is None
    clock.now += 8 + executor.DEADLINE_GRACE_SECONDS - 0.1
    assert run._judge(waiting, "tick", None) is None
    assert run.batch.deleted == []
    clock.now += 0.2
    result = run._judge(waiting, "tick", None)
    assert result is not None and result.status is Status.ERROR
    assert result.message.startswith("DeadlineExceeded: the Job ran past its activeDeadlineSeconds")
    assert run.batch.deleted == ["validate-waiter-abc"]


def test_a_job_not_started_or_suspended_is_left_to_the_run_timeout(run, clock):
    waiting = job(clock)
    assert run._judge(waiting, "job", job_event(started=False)) is None
    assert run._judge(waiting, "job", job_event(suspend=True)) is None
    clock.now += 10**6
    assert run._judge(waiting, "tick", None) is None
    assert run.batch.deleted == []


def test_events_of_other_jobs_also_reach_the_deadline(run, clock):
    # A busy run never idles long enough for a tick; another Job's event must do.
    waiting = job(clock)
    run._judge(waiting, "job", job_event())
    clock.now += 8 + executor.DEADLINE_GRACE_SECONDS + 1
    result = run._judge(waiting, "job", job_event("validate-other-1"))
    assert result is not None and "DeadlineExceeded" in result.message


def test_no_deadline_means_no_backstop(run, clock):
    waiting = job(clock, deadline=None)
    run._judge(waiting, "job", job_event())
    clock.now += 10**6
    assert run._judge(waiting, "tick", None) is None


@pytest.mark.parametrize(
    ("job_reason", "pod_reason", "exit_code", "expected"),
    [
        ("DeadlineExceeded", "Completed", 0, "failed: DeadlineExceeded (exit code 0)"),
        ("DeadlineExceeded", "Error", 1, "failed: DeadlineExceeded (exit code 1)"),
        ("BackoffLimitExceeded", "OOMKilled", 137, "failed: OOMKilled (exit code 137)"),
        ("BackoffLimitExceeded", "Error", 1, "failed: BackoffLimitExceeded (exit code 1)"),
        (None, "StartError", 128, "failed: StartError (exit code 128)"),
    ],
)
def test_the_failure_keeps_the_more_telling_reason(
    run, clock, monkeypatch, job_reason, pod_reason, exit_code, expected
):
    monkeypatch.setattr(run, "_pod", lambda _job: pod(pod_reason, exit_code))
    monkeypatch.setattr(run, "_from_logs", lambda _pod: None)
    result = run._collect(job(clock), failed_reason=job_reason or "Failed")
    assert result.status is Status.ERROR
    assert result.message == f"Kubernetes job validate-waiter-abc {expected}"
