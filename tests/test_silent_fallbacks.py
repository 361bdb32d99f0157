"""Issue 15, item 5: no silent fallbacks. Each used to turn a failure into something that
looked fine; each is now an error, a warning, or a bounded retry that says what happened.

* the Kubernetes watch: a refused watch (403) ends the run's checks as errors saying what
  to fix; a dropped one is retried a bounded number of times, then the same;
* a pod's full result that cannot be read back never passes without its assertions;
* the recorder: only a real outage is "MLflow failed … validate sync"; our own bug is an
  internal error naming its type;
* latency: a TensorFlow model that cannot be timed through TensorFlow says which path was
  timed instead;
* a candidate's own feature list that disagrees with data.features is a ConfigError.

The cluster suite (tests/k8s) uses the one local control plane, so the Kubernetes tests
here talk through the real kubernetes client to a small stub API server on 127.0.0.1
(``StubApiServer``): it answers only the four requests the executor makes, with scripted
statuses, so the client's own parsing of a 403 or a 500 is what is tested.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from validate.check import Status
from validate.executors import kubernetes as executor
from validate.kubernetes_settings import KubernetesSection
from validate.recorder import MlflowRecorder
from validate.registry import SelectedCheck
from validate.results import Assertion, CheckResult

NAMESPACE = "ci-validate"
HANG_GUARD_S = 120  # only against a hang of the code under test; no timing is asserted

# --------------------------------------------------------------------------- Kubernetes


def _status_body(code: int, reason: str, message: str) -> bytes:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    ).encode()


FORBIDDEN = (
    403,
    _status_body(
        403,
        "Forbidden",
        'jobs.batch is forbidden: User "system:serviceaccount:ci-validate:validate" cannot '
        'watch resource "jobs" in API group "batch" in the namespace "ci-validate"',
    ),
)
SERVER_ERROR = (500, _status_body(500, "InternalError", "etcdserver: request timed out"))


def _job_event(name: str) -> bytes:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "status": {}}
    return json.dumps({"type": "ADDED", "object": job}).encode() + b"\n"


class StubApiServer:
    """Just enough of an API server for the executor's calls, with scripted watch replies.

    ``watch_replies[kind]`` is a list of (status, body) served in turn to watches of
    ``jobs`` or ``pods``; the last one repeats. A 200 body is a stream of watch events
    that then ends, as a watch does at its timeout.
    """

    def __init__(self, watch_replies: dict[str, list[tuple[int, bytes]]]) -> None:
        self.watch_replies = watch_replies
        self.watches: dict[str, int] = {"jobs": 0, "pods": 0}
        self.created: list[str] = []
        self.deleted: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                kind = "jobs" if "/jobs" in self.path else "pods"
                assert "watch=True" in self.path or "watch=true" in self.path, self.path
                replies = stub.watch_replies[kind]
                index = min(stub.watches[kind], len(replies) - 1)
                stub.watches[kind] += 1
                self._send(*replies[index])

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.created.append(body["metadata"]["name"])
                self._send(201, json.dumps(body).encode())

            def do_DELETE(self) -> None:
                stub.deleted.append(self.path.rsplit("/", 1)[1])
                self._send(200, json.dumps({"kind": "Status", "status": "Success"}).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api_server() -> Iterator[Any]:
    servers: list[StubApiServer] = []

    def start(**replies: list[tuple[int, bytes]]) -> StubApiServer:
        server = StubApiServer({"jobs": [(200, b"")], "pods": [(200, b"")], **replies})
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def kubernetes_run(monkeypatch, host: str, tmp_path) -> executor.KubernetesRun:
    """A KubernetesRun whose real clients talk to ``host``."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = host
    api = client.ApiClient(configuration)
    monkeypatch.setattr(
        executor, "connect", lambda settings: (client.BatchV1Api(api), client.CoreV1Api(api))
    )
    run = executor.KubernetesRun(
        settings=KubernetesSection(image="validate:test", namespace=NAMESPACE)
    )
    run.recorder = MlflowRecorder(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", experiment="k8s")
    return run


def selected(*names: str) -> list[SelectedCheck]:
    return [
        SelectedCheck(name=name, blocking=True, check=object(), source="test") for name in names
    ]


def in_thread(action, *args):
    """Run ``action`` in a thread; its return value, or a failure if it never returns."""
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(action(*args)), daemon=True)
    worker.start()
    worker.join(HANG_GUARD_S)
    assert not worker.is_alive(), f"{action.__name__} did not return: it retries forever"
    return outcome[0]


def test_a_forbidden_watch_ends_every_unfinished_check_with_what_to_fix(
    monkeypatch, tmp_path, api_server
):
    # Before: the watcher swallowed the 403 and retried forever, and with
    # run_timeout_seconds unset (the default) the run hung with no message.
    server = api_server(jobs=[FORBIDDEN], pods=[FORBIDDEN])
    run = kubernetes_run(monkeypatch, server.url, tmp_path)
    results = in_thread(run._run_jobs, selected("accuracy", "bias"), "run1", "runs:/run1/x", None)

    assert [r.name for r in results] == ["accuracy", "bias"]
    for result in results:
        assert result.status is Status.ERROR and result.blocking
        assert result.message.startswith(
            f"kubernetes: watching jobs in namespace {NAMESPACE} is forbidden (403); grant the "
            "service account get, list and watch on jobs and pods"
        ) or result.message.startswith(
            f"kubernetes: watching pods in namespace {NAMESPACE} is forbidden (403)"
        ), result.message
        assert result.message.endswith("; every Job of this run was deleted")
    assert sorted(server.deleted) == sorted(server.created) and len(server.created) == 2


def test_a_watch_failing_with_server_errors_is_retried_then_ends_the_run(
    monkeypatch, tmp_path, api_server
):
    monkeypatch.setattr(executor, "WATCH_RETRY_DELAYS", (0.0, 0.0))
    server = api_server(jobs=[SERVER_ERROR])
    run = kubernetes_run(monkeypatch, server.url, tmp_path)
    events: queue.Queue = queue.Queue()
    in_thread(run._watch, "job", "run1", events, threading.Event())

    assert server.watches["jobs"] == 3  # the first try and two retries
    kind, message = events.get_nowait()
    assert kind == "watch_error" and events.empty()
    assert message.startswith(
        f"kubernetes: watching jobs in namespace {NAMESPACE} failed 3 times in a row over 0 s "
        "(last: 500 Internal Server Error"
    ), message
    assert f"check that the API server at {server.url} is reachable" in message


def test_an_unreachable_api_server_is_retried_then_named(monkeypatch, tmp_path):
    from mlflow_server import free_port

    monkeypatch.setattr(executor, "WATCH_RETRY_DELAYS", (0.0,))
    host = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    run = kubernetes_run(monkeypatch, host, tmp_path)
    events: queue.Queue = queue.Queue()
    in_thread(run._watch, "pod", "run1", events, threading.Event())
    kind, message = events.get_nowait()
    assert kind == "watch_error"
    assert "watching pods in namespace ci-validate failed 2 times in a row" in message
    assert "(last: NewConnectionError: " in message and "Connection refused" in message
    assert f"check that the API server at {host} is reachable" in message


def test_failures_between_healthy_watches_do_not_add_up(monkeypatch, tmp_path, api_server):
    # Two retries allowed; four failures in all, but never more than two in a row.
    monkeypatch.setattr(executor, "WATCH_RETRY_DELAYS", (0.0, 0.0))
    healthy = (200, _job_event("validate-accuracy-1"))
    replies = [SERVER_ERROR, SERVER_ERROR, healthy, SERVER_ERROR, SERVER_ERROR, healthy]
    server = api_server(jobs=replies)
    run = kubernetes_run(monkeypatch, server.url, tmp_path)
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    watcher = threading.Thread(target=run._watch, args=("job", "run1", events, stop), daemon=True)
    watcher.start()
    seen = [events.get(timeout=HANG_GUARD_S) for _ in range(2)]
    stop.set()
    watcher.join(HANG_GUARD_S)
    assert [kind for kind, _ in seen] == ["job", "job"]
    assert seen[0][1].metadata.name == "validate-accuracy-1"
    assert not any(kind == "watch_error" for kind, _ in list(events.queue))


@pytest.mark.parametrize(
    ("status", "retryable", "fragment"),
    [
        (401, False, "is not authorised (401 Unauthorized); the kubeconfig's credentials"),
        (403, False, "is forbidden (403); grant the service account"),
        (404, False, "not found (404); check that the namespace exists"),
        (422, False, "was refused (422 Unprocessable)"),
        (410, True, "410 Expired"),
        (429, True, "429 TooManyRequests"),
        (500, True, "500 InternalError"),
        (503, True, "503 ServiceUnavailable"),
    ],
)
def test_api_statuses_are_retried_or_final(status, retryable, fragment):
    from kubernetes.client.rest import ApiException

    reason = {410: "Expired", 422: "Unprocessable", 429: "TooManyRequests"}.get(status)
    reason = reason or {500: "InternalError", 503: "ServiceUnavailable"}.get(status, "x")
    found = executor.watch_failure(
        ApiException(status=status, reason=reason), what="jobs", namespace="ns"
    )
    assert found[0] is retryable and fragment in found[1], found


def test_connection_trouble_is_retried_and_our_bugs_are_not():
    from urllib3.exceptions import ProtocolError

    reset = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer"))
    assert executor.watch_failure(reset, what="pods", namespace="ns")[0] is True
    assert executor.watch_failure(TimeoutError("read"), what="pods", namespace="ns")[0] is True
    retryable, message = executor.watch_failure(
        TypeError("'NoneType' object is not subscriptable"), what="pods", namespace="ns"
    )
    assert retryable is False
    assert message == (
        "kubernetes: watching pods in namespace ns failed with an unexpected TypeError: "
        "'NoneType' object is not subscriptable; please report it"
    )


# The pod's full result ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pod_recorder(tmp_path_factory) -> MlflowRecorder:
    # One store for the module: creating a sqlite store costs seconds on a busy machine.
    folder = tmp_path_factory.mktemp("pods")
    recorder = MlflowRecorder(tracking_uri=f"sqlite:///{folder}/pods.db", experiment="k8s")
    assert recorder.start(run_name="parent", params={}, tags={}) is not None
    return recorder


def finished_job() -> executor._Job:
    (check,) = selected("accuracy")
    return executor._Job(check=check, name="validate-accuracy-abc", created=0.0)


def compact(status: str, nested: str | None) -> dict[str, Any]:
    return {
        "name": "accuracy",
        "status": status,
        "blocking": True,
        "message": "roc_auc 0.81 >= min 0.80",
        "duration_s": 1.0,
        "nested_run_id": nested,
        "metrics": {"roc_auc": 0.81},
    }


@pytest.fixture
def judged(monkeypatch, pod_recorder):
    """The executor's verdict on a finished pod whose compact result is given."""
    monkeypatch.setattr(executor, "connect", lambda settings: (None, None))
    run = executor.KubernetesRun(settings=KubernetesSection(image="validate:test"))
    run.recorder = pod_recorder

    def judge(entry: dict[str, Any]) -> CheckResult:
        return run._full_result(finished_job(), entry)

    return judge


def nested_run(recorder: MlflowRecorder, result: CheckResult | None = None) -> str:
    """A nested run as the pod leaves it: with its check_result.json, or (None) without."""
    if result is not None:
        child = recorder.record_check(result)
        assert child is not None
        return child
    assert recorder.experiment_id is not None
    return recorder.client.create_run(recorder.experiment_id).info.run_id


PASSING = CheckResult(
    name="accuracy",
    status=Status.PASSED,
    metrics={"roc_auc": 0.81},
    assertions=(Assertion(metric="roc_auc", op=">=", threshold=0.8, value=0.81, passed=True),),
    message="roc_auc 0.81 >= min 0.80",
)


@pytest.mark.parametrize("status", ["passed", "skipped"])
def test_a_pass_whose_full_result_is_missing_is_an_error(judged, pod_recorder, status):
    # Before: the compact "passed" stood, with assertions: [] (and nothing said).
    nested = nested_run(pod_recorder)
    result = judged(compact(status, nested))
    assert result.status is Status.ERROR
    assert result.message.startswith(
        f"the pod reported {status}, but check_result.json of nested run {nested} could not "
        "be read ("
    ), result.message
    assert result.message.endswith(
        "so the assertions behind it cannot be verified; re-run the validation"
    )


def test_a_pass_without_a_nested_run_is_an_error(judged):
    result = judged(compact("passed", None))
    assert result.status is Status.ERROR
    assert "the pod recorded no nested MLflow run" in result.message


def test_a_full_result_that_contradicts_the_pod_is_an_error(judged, pod_recorder):
    failing = PASSING.with_updates(status=Status.FAILED)
    nested = nested_run(pod_recorder, failing)
    result = judged(compact("passed", nested))
    assert result.status is Status.ERROR
    assert f"nested run {nested} says accuracy failed, the pod said accuracy passed" in (
        result.message
    )


def test_a_failure_whose_full_result_is_missing_stays_failed_and_says_so(judged, pod_recorder):
    nested = nested_run(pod_recorder)
    result = judged(compact("failed", nested))
    assert result.status is Status.FAILED and result.assertions == ()
    (warning,) = result.warnings
    assert warning.startswith(
        f"its assertions were lost: check_result.json of nested run {nested} could not be read"
    )


def test_a_readable_full_result_keeps_its_assertions(judged, pod_recorder):
    nested = nested_run(pod_recorder, PASSING)
    result = judged(compact("passed", nested))
    assert result.status is Status.PASSED and result.assertions == PASSING.assertions
    assert result.warnings == () and result.details["kubernetes"]["recorded_by_pod"] is True


def test_a_pass_recorded_by_another_validation_is_an_error(judged, pod_recorder):
    # A pod (or model code in it) naming an older passing nested run whose result matches.
    other = MlflowRecorder(tracking_uri=pod_recorder.tracking_uri, experiment="k8s")
    assert other.start(run_name="an earlier validation", params={}, tags={}) is not None
    nested = nested_run(other, PASSING)
    result = judged(compact("passed", nested))
    assert result.status is Status.ERROR
    assert f"nested run {nested} belongs to another validation run" in result.message


# --------------------------------------------------------------------------- the recorder


@pytest.fixture
def recorder(tmp_path) -> MlflowRecorder:
    recorder = MlflowRecorder(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", experiment="rec")
    assert recorder.start(run_name="parent", params={}, tags={}) is not None
    return recorder


def test_a_result_that_is_not_json_is_named_not_taken_for_an_outage(recorder):
    # Before: "MLflow at … failed while recording check …", i.e. an outage: sync later.
    import numpy as np

    from validate.recorder import RecordingFailed

    opaque = PASSING.with_updates(details={"rows": np.int64(800)})
    with pytest.raises(RecordingFailed) as raised:
        recorder.record_check(opaque)
    assert str(raised.value) == (
        "check accuracy returned a result that is not plain JSON (TypeError: Object of type "
        "int64 is not JSON serializable); a check's metrics and details must be JSON values "
        "(validate.testing's conformance kit checks this); nothing was promoted"
    )
    assert raised.value.exit_code == 3
    assert not recorder.offline and recorder.check_runs == {}
    assert recorder.recorded_checks() == {}  # no half-written nested run


def test_our_own_bug_while_recording_is_an_internal_error(recorder):
    from validate.recorder import RecordingFailed

    # Metric names are strings by contract; an int key breaks our own key cleaning.
    odd = PASSING.with_updates(metrics={1: 0.5})
    with pytest.raises(RecordingFailed) as raised:
        recorder.record_check(odd)
    assert str(raised.value) == (
        "internal error in the recorder while recording check accuracy: TypeError: 'int' "
        "object is not iterable; this is not an MLflow outage and nothing was promoted; "
        "please report it (re-run with --debug for the traceback)"
    )
    assert not recorder.offline


def test_mlflow_refusing_a_request_is_not_an_outage(recorder):
    from validate.recorder import RecordingFailed

    with pytest.raises(RecordingFailed) as raised:
        recorder.resume("0123456789abcdef0123456789abcdef")
    message = str(raised.value)
    assert message.startswith(
        f"MLflow at {recorder.tracking_uri} refused the request while reading run "
        "0123456789abcdef0123456789abcdef: Run "
    ), message
    assert "not found; this is not an outage and nothing was promoted" in message
    assert not recorder.offline


def test_a_locked_sqlite_store_is_an_outage(recorder, tmp_path):
    # A stopped server is an outage too: tests/test_outages.py kills a real one mid-run.
    import sqlite3

    holder = sqlite3.connect(tmp_path / "mlflow.db", timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        assert recorder.record_check(PASSING) is None
    finally:
        holder.rollback()
        holder.close()
    assert recorder.failure is not None and "database is locked" in recorder.failure


NUMPY_DETAILS = """
    import numpy as np
    from validate import CheckResult, Status

    class NumpyDetails:
        # Breaks the JSON contract the way a hurried plugin does: a numpy integer.
        def run(self, context):
            return CheckResult(name="numpy_details", status=Status.PASSED,
                               details={"rows": np.int64(len(context.eval_data))})
"""


def test_a_recording_bug_ends_the_run_with_exit_3_and_no_sync_advice(
    tmp_path, data_dir, models_dir, write_config
):
    from conftest import base_config, install_fake_distribution, run_cli

    site = tmp_path / "site"
    install_fake_distribution(
        site,
        "numpy_checks",
        {"numpy_details": "numpy_checks_mod:NumpyDetails"},
        {"numpy_checks_mod": NUMPY_DETAILS},
    )
    config = base_config(data_dir, models_dir)
    config["checks"]["numpy_details"] = {}
    report = tmp_path / "report.json"
    done = run_cli(
        "run",
        "-c",
        str(write_config(config)),
        "--json",
        str(report),
        env={"PYTHONPATH": str(site)},
    )
    assert done.returncode == 3, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        "validate: error: check numpy_details returned a result that is not plain JSON"
    )
    assert "sync" not in line and "Traceback" not in done.stderr
    assert not report.exists()  # nothing that reads as a pass was written


# --------------------------------------------------------------------------- latency


def _preprocessing_scores() -> type:
    """A user's pyfunc wrapper built on ours: it loads the Keras model itself, under
    another name, so TensorFlowScores.scorer finds none; pyfunc serves it fine."""
    from validate.models.pyfunc_wrapper import TensorFlowScores

    class PreprocessingScores(TensorFlowScores):
        def load_context(self, context):
            import tf_keras

            self.keras = tf_keras.models.load_model(context.artifacts["model"], compile=False)

        def predict(self, context, model_input, params=None):
            return self.keras.predict(model_input.to_numpy("float32"), verbose=0)

    return PreprocessingScores


@pytest.mark.tensorflow
def test_latency_says_so_when_a_tensorflow_model_is_timed_through_pyfunc(tmp_path):
    # Before: the TensorFlow path was skipped without a word and pyfunc was timed.
    tf_keras = pytest.importorskip("tf_keras")
    import mlflow.pyfunc
    from conftest import FEATURES, make_frame

    from checks.latency import LatencyCheck
    from validate.check import CheckContext
    from validate.models.adapter import resolve_model

    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential(
        [tf_keras.Input(shape=(3,)), tf_keras.layers.Dense(1, activation="sigmoid")]
    )
    model.save(tmp_path / "m.keras")
    mlflow.pyfunc.save_model(
        path=str(tmp_path / "wrapped"),
        python_model=_preprocessing_scores()("keras"),
        artifacts={"model": str(tmp_path / "m.keras")},
        pip_requirements=["mlflow"],  # no requirement inference (a subprocess per model)
    )
    frame = make_frame(50)
    candidate = resolve_model(str(tmp_path / "wrapped"), role="candidate", task="binary")
    context = CheckContext(
        task="binary",
        target="label",
        features=tuple(FEATURES),
        eval_data=frame,
        y_true=frame["label"].to_numpy(),
        candidate_scores=frame["score"].to_numpy(),
        candidate=candidate,
    )
    check = LatencyCheck.from_config(
        "latency",
        {"batch_sizes": [1], "warmup": 1, "iterations": 3, "n_resamples": 0, "device": "cpu"},
        task="binary",
    )
    result = check.run(context)

    assert result.status is Status.PASSED, result.message
    why = (
        "its wrapper (PreprocessingScores) holds no loaded TensorFlow model where validate's "
        "TensorFlowScores keeps it"
    )
    assert result.warnings == (
        f"model.candidate ({tmp_path / 'wrapped'}) wraps a TensorFlow model but was timed "
        f"through MLflow pyfunc, not TensorFlow: {why}; its figures include pyfunc's overhead",
    )
    assert result.details["device"]["models"] == {
        "candidate": f"MLflow pyfunc, not TensorFlow ({why})"
    }
    assert result.message.endswith("(1 warning)")
    # The wrapper declares no inputs: it is handed data.features, and the details say so.
    assert result.details["inputs"] == {
        "candidate": {
            "columns": FEATURES,
            "from": "data.features (the model declares no inputs of its own)",
        }
    }


# --------------------------------------------------------------------------- feature lists


def test_a_candidate_declaring_its_inputs_is_scored_on_them_and_says_so(models_dir):
    # data.features may list more columns than the model takes (drift and bias watch them).
    from conftest import FEATURES, make_frame

    from validate.models import resolve_model

    weak = resolve_model(str(models_dir / "weak"), role="candidate", task="binary")
    assert weak.inputs(tuple(FEATURES)) == (("x3",), "scikit-learn's feature_names_in_")
    assert len(weak.predict(make_frame(20), tuple(FEATURES))) == 20


def test_the_same_features_in_another_order_and_a_champion_with_its_own_are_fine(models_dir):
    from conftest import make_frame

    from validate.models import resolve_model

    good = resolve_model(str(models_dir / "good"), role="candidate", task="binary")
    assert good.inputs(("x3", "x1", "x2")) == (
        ("x1", "x2", "x3"),
        "scikit-learn's feature_names_in_",
    )
    assert good.predict(make_frame(20), ("x3", "x1", "x2")).shape == (20,)
    champion = resolve_model(str(models_dir / "weak"), role="baseline", task="binary")
    assert champion.inputs(("x1", "x2", "x3")) == (("x3",), "scikit-learn's feature_names_in_")


def test_a_model_declaring_no_inputs_takes_data_features_and_says_so(tmp_path):
    import mlflow.sklearn
    from conftest import FEATURES, make_frame
    from sklearn.linear_model import LogisticRegression

    from validate.models import resolve_model

    frame = make_frame(200)
    bare = LogisticRegression().fit(frame[FEATURES].to_numpy(), frame["label"])  # no names
    mlflow.sklearn.save_model(bare, str(tmp_path / "bare"), pip_requirements=["scikit-learn"])
    ref = resolve_model(str(tmp_path / "bare"), role="candidate", task="binary")
    assert ref.inputs(("x2", "x1", "x3")) == (
        ("x2", "x1", "x3"),
        "data.features (the model declares no inputs of its own)",
    )
