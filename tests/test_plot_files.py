"""The plot files recorded in MLflow: standalone SVG drawn by our own code, no matplotlib."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from checks.drift import DriftCheck
from validate.check import CheckContext
from validate.plots import histogram_svg, write_svg

SVG = "{http://www.w3.org/2000/svg}"


def drifted_context(folder) -> CheckContext:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"age": rng.normal(40, 10, 2000), "income": rng.normal(size=2000)})
    current = pd.DataFrame({"age": rng.normal(48, 10, 1500), "income": rng.normal(size=1500)})
    y = (rng.random(1500) < 0.3).astype(int)
    return CheckContext(
        task="binary",
        target="label",
        features=("age", "income"),
        eval_data=current,
        reference_data=reference,
        y_true=y,
        candidate_scores=rng.random(1500),
        artifact_dir=str(folder),
    )


def test_drift_writes_one_parseable_svg_per_drifted_column(tmp_path):
    result = DriftCheck.from_config("drift", {}, task="binary").run(drifted_context(tmp_path))
    assert result.details["artifacts"] == ["drift_age.svg"]
    root = ET.parse(tmp_path / "drift_age.svg").getroot()
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title").text == "age: reference vs eval"
    # Each series' bars are shares of its rows: they add up to 100%.
    for series in ("reference", "eval"):
        bars = [
            b
            for b in root.iter(f"{SVG}rect")
            if b.get("class") == "bar" and b.get("data-series") == series
        ]
        assert len(bars) == 30
        shares = [
            float(re.search(r"([\d.]+)% of rows", b.find(f"{SVG}title").text).group(1))
            for b in bars
        ]
        assert sum(shares) == pytest.approx(100.0, abs=0.05 * len(bars))


def test_the_file_is_the_html_reports_chart(tmp_path):
    histogram = {"edges": [0.0, 1.0, 2.0], "reference": [0.5, 0.5], "eval": [0.25, 0.75]}
    chart = histogram_svg(histogram, x_title="x <&> y")
    written = write_svg(tmp_path / "c.svg", chart, title="x <&> y")
    text = written.read_text(encoding="utf-8")
    assert chart.split(">", 1)[1] in text  # same shapes, only the header differs
    assert ET.fromstring(text.encode()).find(f"{SVG}title").text == "x <&> y"
    with pytest.raises(ValueError):
        write_svg(tmp_path / "d.svg", "<div/>", title="t")


def test_a_drift_run_with_plots_imports_no_matplotlib(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        from test_plot_files import drifted_context
        from checks.drift import DriftCheck
        result = DriftCheck.from_config("drift", {{}}, task="binary").run(
            drifted_context({str(tmp_path)!r})
        )
        assert result.details["artifacts"], result.details
        print(sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib"))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_names_with_characters_xml_forbids_still_make_readable_files(tmp_path):
    name = "a\x01b\x0b<&>'\"]]>"
    histogram = {"edges": [0.0, 1.0, 2.0], "reference": [0.5, 0.5], "eval": [0.25, 0.75]}
    written = write_svg(tmp_path / "c.svg", histogram_svg(histogram, x_title=name), title=name)
    root = ET.parse(written).getroot()
    assert root.find(f"{SVG}title").text == "a\ufffdb\ufffd<&>'\"]]>"
