"""End to end on the credit sample, as the README's first command runs it: real Keras
candidates, a registered scikit-learn champion, sqlite MLflow, the local executor."""

import difflib
import json
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, run_cli
from mlflow import MlflowClient
from test_readme import output_structure, readme_demo_output

pytestmark = pytest.mark.tensorflow


def test_biased_candidate_blocked_good_candidate_promoted(tmp_path):
    pytest.importorskip("tf_keras")
    sample = tmp_path / "credit"
    sample.mkdir()
    for name in ("good.yaml", "biased.yaml"):
        shutil.copy(REPO / "sample_models" / "credit" / name, sample / name)
    build = subprocess.run(
        [
            sys.executable,
            str(REPO / "sample_models" / "credit" / "build.py"),
            "--out",
            str(sample / "artifacts"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert "champion_version: 1" in build.stdout
    # TensorFlow's native start-up lines (no GPU here, tf.data's NodeDef notice) stay out.
    noise = [
        line
        for line in build.stderr.splitlines()
        if re.match(r"[IWEF]\d{4} ", line)
        or any(s in line for s in ("absl::InitializeLog", "cuInit", "NodeDef mentions"))
    ]
    assert not noise, "\n".join(noise)

    biased = run_cli("run", "-c", str(sample / "biased.yaml"), "--json", str(tmp_path / "b.json"))
    assert biased.returncode == 1, biased.stderr
    assert biased.stderr == ""
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["decision"] == "fail"
    assert (
        "roc_auc" in report["checks"][0]["message"]
        and "< min 0.8" in report["checks"][0]["message"]
    )
    bias = report["checks"][1]
    assert bias["name"] == "bias" and bias["status"] == "failed"
    assert "equalized_odds_difference" in bias["message"] and "(worst: sex)" in bias["message"]
    assert report["promotion"]["promoted"] is False
    client = MlflowClient()
    run_id = report["mlflow"]["run_id"]
    (bias_run,) = client.search_runs(
        [client.get_run(run_id).info.experiment_id],
        f"tags.mlflow.parentRunId = '{run_id}' and tags.`validate.check` = 'bias'",
    )
    assert "bias_sex.svg" in [a.path for a in client.list_artifacts(bias_run.info.run_id)]

    good = run_cli("run", "-c", str(sample / "good.yaml"), "--json", str(tmp_path / "g.json"))
    assert good.returncode == 0, good.stderr
    report = json.loads((tmp_path / "g.json").read_text())
    assert report["decision"] == "pass" and report["promotion"]["promoted"] is True
    assert [c["status"] for c in report["checks"]] == [
        "passed",
        "passed",
        "passed",
        "failed",
        "passed",
    ]
    drift = report["checks"][3]
    assert drift["name"] == "drift" and drift["blocking"] is False
    assert "income" in drift["message"] and "age" in drift["message"]
    assert report["promotion"]["version"] == "2"
    latency = report["checks"][4]
    assert latency["details"]["device"]["models"]["candidate"].startswith("tensorflow /")
    assert latency["metrics"]["batch_256.throughput_rps"] > 0
    assert str(client.get_model_version_by_alias("credit", "champion").version) == "2"

    # The registered Keras candidate loads back through the registry and scores like the file.
    rerun = run_cli("run", "-c", str(sample / "good.yaml"), "--json", str(tmp_path / "again.json"))
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads((tmp_path / "again.json").read_text())
    details = again["checks"][0]["details"]
    assert details["baseline_metrics"]["roc_auc"] == pytest.approx(
        again["checks"][0]["metrics"]["roc_auc"], abs=1e-6
    )

    # The worked example: MinDiff remediation of the biased candidate narrows its gaps.
    remedied = run_cli(
        "remediate", "-c", str(sample / "biased.yaml"), "--out", str(tmp_path / "fix")
    )
    assert remedied.returncode == 0, remedied.stderr
    before = json.loads((tmp_path / "fix" / "report.before.json").read_text())
    after = json.loads((tmp_path / "fix" / "report.after.json").read_text())

    def metric(report, check, name):
        return next(c for c in report["checks"] if c["name"] == check)["metrics"][name]

    assert (
        metric(after, "bias", "equalized_odds_difference")
        < metric(before, "bias", "equalized_odds_difference") / 2
    )
    assert metric(after, "mindiff", "mmd") < metric(before, "mindiff", "mmd") / 10
    assert (tmp_path / "fix" / "remediated.keras").is_file()
    assert "equalized_odds_difference" in remedied.stdout and "BEFORE" in remedied.stdout

    # Last, so that everything above has passed: the README's sample output has the shape
    # of what the demo printed (the same rows, statuses and kinds of lines; numbers aside).
    printed = biased.stdout + "\n" + good.stdout + "\n" + remedied.stdout
    expected = [" ".join(e) for e in output_structure(readme_demo_output())]
    actual = [" ".join(e) for e in output_structure(printed)]
    assert actual == expected, (
        "README.md's sample output (between <!-- demo-output: and <!-- /demo-output -->) "
        "no longer has the shape of the demo's output:\n"
        + "\n".join(difflib.unified_diff(expected, actual, "README", "demo", lineterm=""))
        + "\n\nWhat the demo printed:\n"
        + printed
    )
