"""--html writes one self-contained page; headless Chromium renders it cleanly."""

import fcntl
import os
import re
import shutil
import subprocess
import tempfile

import pytest
from click.testing import CliRunner
from conftest import base_config

from validate.cli import cli

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; the test setup installs it when it is missing and we may."""
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        # pytest-xdist workers may all get here: one installs, the others wait for it.
        with open(os.path.join(tempfile.gettempdir(), "validate-chromium.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if shutil.which("chromium") is None:
                env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
                for command in (
                    ["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "chromium"],
                ):
                    subprocess.run(command, env=env, check=False, timeout=900, capture_output=True)
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt)")
    return found


@pytest.fixture
def report_html(write_config, data_dir, models_dir, tmp_path):
    import pandas as pd

    # A second sensitive feature with a small group (n=12 < min_group_size 30): the
    # report names it, with its n, instead of silently leaving it out of the chart.
    frame = pd.read_parquet(data_dir / "eval.parquet")
    frame["band"] = ["rare" if i < 12 else ("low", "high")[i % 2] for i in range(len(frame))]
    frame.to_parquet(data_dir / "eval.parquet", index=False)
    reference = pd.read_parquet(data_dir / "train.parquet")
    reference["x1"] += 1.0  # x1 drifts, so its histogram is drawn
    reference.to_parquet(data_dir / "shifted.parquet", index=False)
    config = base_config(
        data_dir,
        models_dir,
        checks={
            "accuracy": {"thresholds": {"roc_auc": {"min": 0.99}}},
            "bias": {"sensitive_features": ["group", "band"], "n_resamples": 100},
            "drift": {"columns": ["x1"], "n_resamples": 20},
            "latency": {
                "device": "cpu",
                "batch_sizes": [1, 16],
                "warmup": 2,
                "iterations": 15,
                "n_resamples": 50,
                "thresholds": {"p95_ms": {"max": 10000}},
            },
        },
        **{
            "data.baseline_prediction": "weak_score",
            "data.reference": str(data_dir / "shifted.parquet"),
        },
    )
    path = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["run", "-c", str(write_config(config)), "--html", str(path)])
    assert result.exit_code == 1, result.stderr
    return path


def test_report_is_self_contained(report_html):
    text = report_html.read_text()
    assert "Decision: FAIL" in text
    assert "<script" not in text and "http://" not in text.replace("http://127", "")
    assert "https://" not in text and "<link" not in text
    assert "Candidate vs champion (paired, same rows)" in text
    assert "Rates by group: group" in text and "<svg" in text
    # Each group's size, as an integer, in the chart and in the table.
    assert re.findall(r"<text class='group-n'[^>]*>n=(\d+)</text>", text)
    sizes = re.findall(r"<td class='num group-n'>([^<]*)</td>", text)
    assert sizes and all(size.isdigit() for size in sizes)
    note = re.search(r"<p class='note small-groups'>(.*?)</p>", text)
    assert note and "rare (n=12)" in note[1] and "min_group_size 30" in note[1]
    # The bias check's warning sentence reaches the summary at the top.
    summary = re.search(r"id='warnings'>(.*?)</div>", text, re.S)
    assert summary and "bias: band: groups below min_group_size 30" in summary[1]
    # Drift: a histogram with a y-axis; latency: a panel and table rows for each batch size.
    assert "Drift: x1 (reference vs eval)" in text and ">share of rows</text>" in text
    assert re.findall(r"<svg class='chart latency' data-batch='(\d+)'", text) == ["1", "16"]
    assert sorted(set(re.findall(r"<tr data-batch='(\d+)'>", text))) == ["1", "16"]
    assert not re.search(r">-?\d+\.000</text>", text)  # no chart label like 19.000


def test_chromium_renders_without_console_errors(chromium, report_html, tmp_path):
    url = report_html.as_uri()
    dom = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Decision: FAIL" in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_drift_histograms_are_drawn_inline():
    from validate.reporting.html import render_html

    report = {
        "decision": "fail",
        "candidate": "m",
        "baseline": None,
        "reasons": [],
        "promotion": None,
        "mlflow": {"run_id": "r", "tracking_uri": "sqlite:///mlflow.db"},
        "checks": [
            {
                "name": "drift",
                "status": "failed",
                "blocking": True,
                "message": "1 of 1 drifted",
                "metrics": {"share_drifted_features": 1.0},
                "assertions": [],
                "details": {
                    "histograms": {
                        "income": {
                            "edges": [0.0, 1.0, 2.0],
                            "reference": [0.7, 0.3],
                            "eval": [0.2, 0.8],
                        }
                    }
                },
            }
        ],
    }
    text = render_html(report)
    assert "Drift: income (reference vs eval)" in text
    # Two bins, two series, drawn side by side at full opacity (a legend swatch can match).
    assert text.count("class='bar' data-series='reference'") == 2
    assert text.count("class='bar' data-series='eval'") == 2
    assert "fill-opacity" not in text
