"""Start-up stays light: the CLI and the public API import no heavy library."""

import json
import subprocess
import sys

HEAVY = (
    "tensorflow",
    "mlflow",
    "fairlearn",
    "kubernetes",
    "tf_keras",
    "sklearn",
    "scipy",
    "matplotlib",
    "opentelemetry",  # MLflow imports parts of it: test_telemetry.py checks a run's share
    "onnxruntime",
    "onnx",
    "torch",
    "kopf",
    "prometheus_client",  # the operator's metrics: only `validate operator` imports it
    "pyspark",  # the Spark engine is imported only where engine: {kind: spark} is used
    "py4j",
    "datasketches",
)


def imported_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in json.loads(out.stdout)}


def test_cli_imports_no_heavy_library():
    assert not imported_after("import validate.cli") & set(HEAVY)


def test_public_api_imports_no_heavy_library():
    assert not imported_after("import validate") & set(HEAVY)


def test_the_supervising_process_imports_no_numerics():
    """``validate run`` is two processes; the one that supervises the run (and may have to
    mark it killed) starts in a tenth of a second: no NumPy, pandas or pydantic."""
    modules = imported_after("import validate.cli, validate.supervisor")
    assert not modules & {"numpy", "pandas", "pydantic", "pyarrow", *HEAVY}


def test_every_public_name_resolves_lazily():
    import validate

    for name in validate.__all__:
        assert getattr(validate, name) is not None, name
    assert validate.Status.PASSED.value == "passed"


def test_help_runs_without_heavy_imports():
    code = (
        "import sys, json\nfrom validate.cli import main\ntry:\n    main(['--help'])\n"
        "except SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}
    assert not modules & set(HEAVY)


def test_a_bias_and_drift_run_imports_only_what_it_uses(tmp_path):
    """Bias on precomputed scores and drift, plots included: the run process (the
    supervisor's child) imports neither MLflow (it creates the new sqlite store itself)
    nor scipy (drift of numeric columns), scikit-learn, matplotlib, fairlearn or
    TensorFlow."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 20_000
    frame = pd.DataFrame({"x": rng.normal(size=n), "label": (rng.random(n) < 0.3).astype(int)})
    frame["score"] = np.clip(frame["label"] * 0.3 + rng.random(n) * 0.7, 0, 1)
    frame["group"] = rng.choice(["a", "b"], n)
    frame.to_parquet(tmp_path / "eval.parquet")
    frame.assign(x=frame["x"] + 1).to_parquet(tmp_path / "reference.parquet")
    (tmp_path / "validation.yaml").write_text(
        "data:\n  eval: eval.parquet\n  reference: reference.parquet\n  target: label\n"
        "  prediction: score\n  features: [x]\n"
        "checks:\n  bias: {sensitive_features: [group]}\n  drift: {}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "validate", "run", "-c", "validation.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "validate.runner" in imported  # the child's imports are in what was read
    assert "mlflow" not in imported
    assert (tmp_path / "mlflow.db").is_file()
    assert {"validate.stats.fairness", "validate.stats.drift"} <= imported  # both checks ran
    unused = ("matplotlib", "fairlearn", "tensorflow", "sklearn")
    heavy = {m for m in imported if m.split(".")[0] in unused}
    assert heavy == set()
    # MLflow imports scipy.sparse; the drift of numeric columns needs no scipy of its own.
    assert {m for m in imported if m.startswith(("scipy.stats", "scipy.special"))} == set()
