"""ONNX and PyTorch candidates: scored by their own runtimes, timed natively, refused in one
line when broken, and equal to the scikit-learn model they were made from.

Fixtures are built once for the module, offline: a scikit-learn pipeline trained on a small
Adult-like sample, its skl2onnx conversion, and a PyTorch re-implementation of it (the same
scaler and coefficients, float64) exported with ``torch.export`` and TorchScript.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")
torch = pytest.importorskip("torch")

from checks.latency import LatencyCheck, choose_placement  # noqa: E402
from validate.check import CheckContext  # noqa: E402
from validate.cli import cli  # noqa: E402
from validate.errors import ModelError  # noqa: E402
from validate.models.adapter import resolve_model  # noqa: E402
from validate.results import Status  # noqa: E402
from validate.trust import foreign_model_notices  # noqa: E402

FEATURES = ["age", "education_num", "hours_per_week", "capital_gain_log"]
REPO = Path(__file__).resolve().parent.parent


def adult_like(n: int, seed: int) -> pd.DataFrame:
    """Census-style applicants: income above 50k depends on age, schooling, hours and
    capital gains, with a gap by sex in the labels (so bias has something to measure)."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Female", "Male"], size=n, p=[0.33, 0.67])
    frame = pd.DataFrame(
        {
            "age": np.clip(rng.normal(39, 13, n), 17, 90).round(),
            "education_num": np.clip(rng.normal(10, 2.5, n), 1, 16).round(),
            "hours_per_week": np.clip(rng.normal(40, 12, n), 1, 99).round(),
            "capital_gain_log": np.where(rng.random(n) < 0.08, rng.normal(8, 1.5, n), 0.0),
            "sex": sex,
        }
    )
    logit = (
        -9.0
        + 0.04 * frame["age"]
        + 0.35 * frame["education_num"]
        + 0.04 * frame["hours_per_week"]
        + 0.25 * frame["capital_gain_log"]
        + 0.6 * (sex == "Male")
    )
    frame["income_gt_50k"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return frame


class Reimplemented(torch.nn.Module):
    """The scikit-learn pipeline (StandardScaler, LogisticRegression) written in PyTorch."""

    def __init__(self, pipeline, logits: bool = False) -> None:
        super().__init__()
        scaler, logistic = pipeline.steps[0][1], pipeline.steps[-1][1]
        self.register_buffer("mean", torch.tensor(scaler.mean_))
        self.register_buffer("scale", torch.tensor(scaler.scale_))
        self.linear = torch.nn.Linear(len(FEATURES), 1, dtype=torch.float64)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor(logistic.coef_))
            self.linear.bias.copy_(torch.tensor(logistic.intercept_))
        self.logits = logits

    def forward(self, x):
        z = self.linear((x - self.mean) / self.scale)
        return z if self.logits else torch.sigmoid(z)


def export(module: torch.nn.Module, path: Path) -> str:
    example = (torch.zeros(4, len(FEATURES), dtype=torch.float64),)
    batch = torch.export.Dim("batch")
    program = torch.export.export(module.eval(), example, dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return str(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, object]:
    import mlflow.sklearn
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder = tmp_path_factory.mktemp("native")
    train, evaluate = adult_like(3000, seed=1), adult_like(1200, seed=2)
    evaluate.to_parquet(folder / "eval.parquet", index=False)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        train[FEATURES], train["income_gt_50k"]
    )
    mlflow.sklearn.save_model(pipeline, str(folder / "sklearn"))

    def onnx(model, name, tensor_type, zipmap=False, **kwargs):
        options = {LogisticRegression: {"zipmap": zipmap}} if "Logistic" in repr(model) else None
        graph = convert_sklearn(
            model, initial_types=[("input", tensor_type([None, len(FEATURES)]))], options=options
        )
        (folder / name).write_bytes(graph.SerializeToString())
        return str(folder / name)

    four_class = np.digitize(train["age"], [30, 40, 50])
    multiclass = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        train[FEATURES], four_class
    )
    regression = LinearRegression().fit(train[FEATURES], train["hours_per_week"] * 2)
    Path(folder / "onnx_dir").mkdir()
    return {
        "folder": folder,
        "eval": evaluate,
        "pipeline": pipeline,
        "multiclass": multiclass,
        "regression": regression,
        "sklearn": str(folder / "sklearn"),
        "onnx": onnx(pipeline, "model.onnx", DoubleTensorType),
        "onnx_zipmap_float": onnx(pipeline, "zipmap.onnx", FloatTensorType, zipmap=True),
        "onnx_in_folder": onnx(pipeline, "onnx_dir/model.onnx", DoubleTensorType),
        "onnx_multiclass": onnx(multiclass, "multi.onnx", DoubleTensorType),
        "onnx_regression": onnx(regression, "regression.onnx", DoubleTensorType),
        "pt2": export(Reimplemented(pipeline), folder / "model.pt2"),
        "pt2_logits": export(Reimplemented(pipeline, logits=True), folder / "logits.pt2"),
        "torchscript": _script(Reimplemented(pipeline), folder / "model.pt"),
    }


def _script(module: torch.nn.Module, path: Path) -> str:
    torch.jit.save(torch.jit.script(module.eval()), str(path))
    return str(path)


def _predict(location: str, frame: pd.DataFrame, task: str = "binary", **ref) -> np.ndarray:
    from dataclasses import replace

    model = replace(resolve_model(location, role="candidate", task=task), **ref)
    return model.predict(frame, tuple(FEATURES))


# --- scoring ------------------------------------------------------------------------------


def test_every_format_scores_like_the_sklearn_pipeline(built):
    frame = built["eval"]
    expected = built["pipeline"].predict_proba(frame[FEATURES])[:, 1]
    kinds = {
        "onnx": "onnx",
        "onnx_in_folder": "onnx",
        "pt2": "torch_export",
        "torchscript": "torchscript",
    }
    for name, kind in kinds.items():
        location = built[name]
        if name == "onnx_in_folder":
            location = str(Path(location).parent)  # the folder form
        assert resolve_model(location, role="candidate", task="binary").kind == kind
        np.testing.assert_allclose(_predict(location, frame), expected, rtol=1e-12, err_msg=name)
    # float32 with ZipMap (skl2onnx's default output): a list of {class: p} per row.
    np.testing.assert_allclose(_predict(built["onnx_zipmap_float"], frame), expected, atol=1e-6)


def test_logits_need_an_activation(built):
    frame = built["eval"]
    expected = built["pipeline"].predict_proba(frame[FEATURES])[:, 1]
    with pytest.raises(ModelError, match=r"must be probabilities in \[0, 1\].*not logits"):
        _predict(built["pt2_logits"], frame)
    got = _predict(built["pt2_logits"], frame, activation="sigmoid")
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_multiclass_and_regression_onnx(built):
    frame = built["eval"]
    multi = _predict(built["onnx_multiclass"], frame, task="multiclass")
    np.testing.assert_allclose(multi, built["multiclass"].predict_proba(frame[FEATURES]), atol=1e-9)
    # The same probabilities named as an output, and their logs turned back by softmax.
    named = _predict(built["onnx_multiclass"], frame, task="multiclass", output="probabilities")
    np.testing.assert_array_equal(named, multi)
    regression = _predict(built["onnx_regression"], frame, task="regression")
    np.testing.assert_allclose(regression, built["regression"].predict(frame[FEATURES]), rtol=1e-9)


def test_scoring_is_batched_with_bounded_memory(built, monkeypatch):
    import validate.models.onnx_models as onnx_models
    import validate.models.torch_models as torch_models

    monkeypatch.setattr(onnx_models, "SCORING_ROWS", 500)
    monkeypatch.setattr(torch_models, "SCORING_ROWS", 500)
    frame = built["eval"]  # 1,200 rows: three batches each
    expected = built["pipeline"].predict_proba(frame[FEATURES])[:, 1]
    for name in ("onnx", "pt2"):
        np.testing.assert_allclose(_predict(built[name], frame), expected, rtol=1e-12)


# --- bad models: one line, exit 2 ---------------------------------------------------------


def _model_error(location: str, frame: pd.DataFrame, task: str = "binary", **ref) -> str:
    with pytest.raises(ModelError) as caught:
        _predict(location, frame, task=task, **ref)
    return str(caught.value)


def test_wrong_inputs_and_outputs_are_one_line_model_errors(built, tmp_path):
    frame = built["eval"]
    narrow = frame.rename(columns={"capital_gain_log": "gain"})
    features = ["age", "education_num", "hours_per_week"]
    with pytest.raises(ModelError, match="takes 4 input columns, data.features gives 3"):
        resolve_model(built["onnx"], role="candidate", task="binary").predict(
            narrow, tuple(features)
        )
    with pytest.raises(ModelError, match="takes 4 input columns, data.features gives 3"):
        resolve_model(built["pt2"], role="candidate", task="binary").predict(
            narrow, tuple(features)
        )
    message = _model_error(built["onnx"], frame, output="scores")
    assert "model.output.name 'scores' is not an output of" in message
    assert "its outputs: label, probabilities" in message
    # A regression model given as a multiclass candidate: the wrong output shape.
    message = _model_error(built["onnx_regression"], frame, task="multiclass")
    assert "model output has shape (1200, 1) for 1200 rows; task 'multiclass' expects" in message
    # Named inputs (what skl2onnx makes from a DataFrame) that are not eval columns.
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    by_name = make_pipeline(
        ColumnTransformer([("all", "passthrough", FEATURES)]), LinearRegression()
    ).fit(frame[FEATURES], frame["hours_per_week"])
    named = convert_sklearn(
        by_name, initial_types=[(f, DoubleTensorType([None, 1])) for f in FEATURES]
    )
    path = tmp_path / "named.onnx"
    path.write_bytes(named.SerializeToString())
    np.testing.assert_allclose(
        _predict(str(path), frame[FEATURES[::-1]], task="regression"),  # found by name
        by_name.predict(frame[FEATURES]),
        rtol=1e-9,
    )
    message = _model_error(str(path), narrow, task="regression")
    assert "eval data lacks the model's input column(s) capital_gain_log" in message


def test_a_pickled_torch_module_is_refused_unloaded(tmp_path, built):
    pickled = tmp_path / "module.pt"
    torch.save(Reimplemented(built["pipeline"]), pickled)
    with pytest.raises(ModelError, match="a pickled PyTorch module .torch.save. is not loaded"):
        resolve_model(str(pickled), role="candidate", task="binary")


def _clean_exit_2(config_path: Path, *fragments: str) -> None:
    result = CliRunner().invoke(cli, ["run", "-c", str(config_path)], catch_exceptions=False)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("validate: error: ") and "Traceback" not in result.stdout
    for fragment in fragments:
        assert fragment in line, line


def test_cli_wrong_width_and_misplaced_output_setting_are_exit_2(built, tmp_path):
    config = _config(built, built["onnx"], checks={"accuracy": {}})
    config["data"]["features"] = FEATURES[:3]
    path = tmp_path / "narrow.yaml"
    path.write_text(yaml.safe_dump(config))
    _clean_exit_2(path, "model.candidate", "takes 4 input columns, data.features gives 3")
    config = _config(built, built["sklearn"], checks={"accuracy": {}})
    config["model"]["output"] = {"activation": "sigmoid"}
    path.write_text(yaml.safe_dump(config))
    _clean_exit_2(path, "model.output: applies to ONNX and PyTorch models", "a mlflow model")


# --- trust --------------------------------------------------------------------------------


def test_untrusted_code_notice_for_pytorch_not_onnx(built, tmp_path):
    refs = [
        resolve_model(built[name], role="candidate", task="binary")
        for name in ("onnx", "pt2", "torchscript")
    ]
    notices = foreign_model_notices(refs, tmp_path)  # every file is outside tmp_path
    assert [n.split(" ", 2)[1] for n in notices] == [built["pt2"], built["torchscript"]]
    assert all("runs its code" in n and "TorchScript" in n for n in notices)


# --- latency ------------------------------------------------------------------------------


def _latency_context(built, candidate: str, baseline: str | None) -> CheckContext:
    frame = built["eval"]
    return CheckContext(
        task="binary",
        target="income_gt_50k",
        features=tuple(FEATURES),
        eval_data=frame,
        y_true=frame["income_gt_50k"].to_numpy(),
        candidate_scores=None,
        candidate=resolve_model(candidate, role="candidate", task="binary"),
        baseline=resolve_model(baseline, role="baseline", task="binary") if baseline else None,
    )


def test_latency_times_onnx_runtime_and_torch_natively(built):
    context = _latency_context(built, built["pt2"], built["onnx"])
    settings = {"batch_sizes": [1, 64], "warmup": 1, "iterations": 5, "n_resamples": 50}
    result = LatencyCheck.from_config("latency", {**settings, "device": "cpu"}, task="binary").run(
        context
    )
    assert result.status is Status.PASSED, result.message
    device = result.details["device"]
    assert device["models"] == {
        "candidate": "torch cpu",
        "baseline": "onnxruntime CPUExecutionProvider",
    }
    assert {"torch", "onnxruntime"} <= set(device["frameworks"])
    assert "torch_intra_op" in device["threads"]
    assert result.details["batches"]["64"]["iterations"] == 5
    # TorchScript through the same path.
    script = _latency_context(built, built["torchscript"], None)
    timed = LatencyCheck.from_config("latency", settings, task="binary").run(script)
    assert timed.status is Status.PASSED and timed.details["device"]["models"] == {
        "candidate": "torch cpu"
    }


def test_gpu_without_a_gpu_is_refused_not_timed_on_the_cpu(built):
    context = _latency_context(built, built["onnx"], built["pt2"])
    models = [context.candidate, context.baseline]
    if not isinstance(choose_placement("gpu", models), str):
        pytest.skip("this machine has a usable GPU: the no-GPU rule cannot be shown here")
    settings = {"device": "gpu", "warmup": 1, "iterations": 3}
    skipped = LatencyCheck.from_config("latency", settings, task="binary").run(context)
    assert skipped.status is Status.SKIPPED and skipped.message.startswith("device: gpu, but ")
    required = LatencyCheck.from_config(
        "latency", {**settings, "require_gpu": True}, task="binary"
    ).run(context)
    assert required.status is Status.ERROR and required.message == skipped.message
    assert "batches" not in required.details


# --- the same model in three formats, through a whole validate run ------------------------


def _config(built, candidate: str, checks: dict) -> dict:
    return {
        "version": 1,
        "model": {"candidate": candidate},
        "data": {
            "eval": str(built["folder"] / "eval.parquet"),
            "target": "income_gt_50k",
            "features": FEATURES,
            "task": "binary",
        },
        "checks": checks,
        "mlflow": {"experiment": "formats"},
    }


def test_sklearn_onnx_and_pytorch_give_the_same_metrics_and_verdicts(built, tmp_path):
    checks = {
        "accuracy": {"thresholds": {"roc_auc": {"min": 0.75}, "log_loss": {"max": 0.5}}},
        "bias": {  # the positive rates differ by about 0.01 between the sexes: a fail
            "sensitive_features": ["sex"],
            "n_resamples": 100,
            "thresholds": {"demographic_parity_difference": {"max": 0.005}},
        },
        "latency": {
            "device": "cpu",
            "batch_sizes": [1, 64],
            "warmup": 2,
            "iterations": 10,
            "n_resamples": 50,
        },
    }
    runs = {}
    for name in ("sklearn", "onnx", "pt2"):
        folder = tmp_path / name
        folder.mkdir()
        config = _config(built, built[name], checks)
        # Each run its own store: three processes creating one sqlite schema would collide.
        config["mlflow"]["tracking_uri"] = "sqlite:///mlflow.db"
        (folder / "validation.yaml").write_text(yaml.safe_dump(config))
        runs[name] = subprocess.Popen(
            [str(Path(sys.executable).parent / "validate"), "run", "-c", "validation.yaml"]
            + ["--json", "report.json"],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    reports = {}
    for name, process in runs.items():
        out, err = process.communicate(timeout=300)
        # Bias fails its (strict) threshold, so the gate fails (exit 1) for every format.
        assert process.returncode == 1, (name, out, err)
        reports[name] = json.loads((tmp_path / name / "report.json").read_text())
    reference = reports["sklearn"]
    for name in ("onnx", "pt2"):
        report = reports[name]
        assert report["decision"] == reference["decision"] == "fail"
        for theirs, ours in zip(reference["checks"], report["checks"], strict=True):
            assert (ours["name"], ours["status"]) == (theirs["name"], theirs["status"]), name
            if ours["name"] == "latency":
                assert {"batch_1.p95_ms", "batch_64.p95_ms"} <= set(ours["metrics"])
                continue
            assert set(ours["metrics"]) == set(theirs["metrics"])
            for metric, value in theirs["metrics"].items():
                assert ours["metrics"][metric] == pytest.approx(value, abs=1e-6), (name, metric)
            verdicts = [(a["metric"], a["passed"]) for a in ours["assertions"]]
            assert verdicts == [(a["metric"], a["passed"]) for a in theirs["assertions"]]
    statuses = {c["name"]: c["status"] for c in reference["checks"]}
    assert statuses == {"accuracy": "passed", "bias": "failed", "latency": "passed"}
    runtimes = {
        name: next(c for c in report["checks"] if c["name"] == "latency")["details"]["device"][
            "models"
        ]["candidate"]
        for name, report in reports.items()
    }
    assert runtimes == {
        "sklearn": "placed by the model (MLflow pyfunc)",
        "onnx": "onnxruntime CPUExecutionProvider",
        "pt2": "torch cpu",
    }


def test_a_promoted_onnx_model_loads_and_is_timed_natively(built, tmp_path):
    """Promotion registers a file model inside validate's pyfunc wrapper, with its output
    settings; loaded back as a champion it scores and is timed by ONNX Runtime again."""
    from dataclasses import replace

    from validate.models.pyfunc_wrapper import save_tensorflow_pyfunc
    from validate.models.timing import runtime_of

    ref = replace(
        resolve_model(built["onnx"], role="candidate", task="binary"), output="probabilities"
    )
    save_tensorflow_pyfunc(ref, tmp_path / "wrapped", tuple(FEATURES))
    champion = resolve_model(str(tmp_path / "wrapped"), role="baseline", task="binary")
    assert champion.kind == "mlflow" and runtime_of(champion) == "onnxruntime"
    frame = built["eval"]
    np.testing.assert_allclose(
        champion.predict(frame, tuple(FEATURES)),
        built["pipeline"].predict_proba(frame[FEATURES])[:, 1],
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    ("shipped", "message"),
    [
        ("light/light_squeezenet.onnx", "ONNX input 'data_0' has shape [1, 3, 224, 224]"),
        ("simple/test_sequence_model6", "ONNX input 'X' has shape [2, 3, 4]"),
        ("simple/test_sign_model", "ONNX input 'x' takes exactly 7 rows; export the model"),
        ("simple/test_gradient_of_add", "cannot load"),
        ("simple/test_strnorm_model_monday_casesensintive_lower", "cannot load"),
    ],
)
def test_the_onnx_wheels_own_test_models_are_refused_in_one_line(shipped, message, capfd):
    """Edge cases for the loader from the models the onnx wheel ships (image inputs, 3-D
    sequences, a fixed row count, an unregistered training op, a kernel that fails to
    initialise): a ModelError naming the problem, and nothing on stderr from ONNX Runtime."""
    import onnx

    location = Path(onnx.__file__).parent / "backend" / "test" / "data" / shipped
    frame = pd.DataFrame({"x": np.ones(5), "X": np.ones(5)})
    with pytest.raises(ModelError) as caught:
        resolve_model(str(location), role="candidate", task="binary").predict(frame, ("x",))
    assert str(caught.value).startswith("model.candidate: ") and message in str(caught.value)
    assert capfd.readouterr().err == ""


def test_a_gpu_the_runtime_cannot_use_is_never_timed_as_one(built, monkeypatch):
    """A GPU the driver shows, but a CPU build of onnxruntime and of torch (this machine's
    wheels): device: gpu is refused with each runtime's reason, and auto times the CPU and
    reports the CPU."""
    import onnxruntime

    import validate.devices

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers() or (
        torch.cuda.is_available()
    ):
        pytest.skip("GPU builds installed: the CPU-build rule cannot be shown here")
    monkeypatch.setattr(validate.devices, "driver_gpus", lambda: ["NVIDIA H200"])
    context = _latency_context(built, built["onnx"], built["pt2"])
    models = [context.candidate, context.baseline]
    refused = choose_placement("gpu", models)
    assert isinstance(refused, str) and refused.startswith("device: gpu, but a GPU is visible")
    assert "model.candidate: onnxruntime" in refused and "has no CUDAExecutionProvider" in refused
    assert "model.baseline: torch" in refused and "sees no CUDA device" in refused
    auto = choose_placement("auto", models)
    assert not isinstance(auto, str) and auto.device == "cpu"
