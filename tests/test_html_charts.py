"""The HTML report's fixed elements (issue 14 items 6 and 10), checked in the DOM headless
Chromium renders and in its screenshot: the small-group note, group sizes, drift histogram
legend = bars, y-axes, tick labels, latency panels for every batch size, the resolved
champion version, integer counts, CI precision and every warning sentence."""

from __future__ import annotations

import html
import re
import subprocess
from html.parser import HTMLParser
from typing import Any

import pytest
from test_html_report import CHROMIUM_FLAGS, chromium  # noqa: F401  (the fixture)

from validate.plots import format_interval, nice_ticks, shared_decimals, tick_label
from validate.reporting.html import render_html

SMALL_GROUP = (
    "groups below min_group_size 30 are reported but left out of the aggregates: "
    "male/under_25 (n=25)"
)
NOISY = (
    "batch_1.p95_ms <= 25 not judged, too noisy: CV 0.81 > max_cv 0.5 and its CI "
    "[18.200, 31.400] spans 25; raise iterations or measure on a quieter machine"
)


def _latency(p50: float, p95: float, p99: float, iterations: int) -> dict[str, Any]:
    return {
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "mean_ms": p50 * 1.1,
        "std_ms": p50 * 0.2,
        "cv": 0.2,
        "throughput_rps": 1000.0 / p50,
        "iterations": iterations,
        "ci": {
            "p50_ms": [p50 * 0.95, p50 * 1.05],
            "p95_ms": [p95 * 0.9, p95 * 1.1],
            "p99_ms": [p99 * 0.85, p99 * 1.2],
        },
    }


def rich_report() -> dict[str, Any]:
    """A report with every chart: bias with a dropped group, drift, latency with a champion."""
    groups = [
        ("female/over_25", 412.0, 0.41, 0.72, 0.18),
        ("female/under_25", 96.0, 0.35, 0.66, 0.21),
        ("male/over_25", 367.0, 0.45, 0.75, 0.2),
    ]
    edges = [float(e) for e in range(0, 31)]
    reference = [(1 + (i % 7)) / 120.0 for i in range(30)]
    evaluation = [(1 + ((i + 3) % 9)) / 150.0 for i in range(30)]
    return {
        "schema_version": 1,
        "decision": "pass",
        "candidate": "models:/credit/7",
        "baseline": "models:/credit@champion",
        "resolved": {
            "candidate": {"uri": "models:/credit/7", "model": "credit", "version": "7"},
            "baseline": {"uri": "models:/credit@champion", "model": "credit", "version": "3"},
        },
        "mlflow": {"tracking_uri": "sqlite:///mlflow.db", "run_id": "abc123"},
        "reasons": [],
        "warnings": [f"bias: sex x age_group: {SMALL_GROUP}", f"latency: {NOISY}"],
        "promotion": None,
        "checks": [
            {
                "name": "accuracy",
                "status": "passed",
                "blocking": True,
                "message": "roc_auc 0.871 >= min 0.8",
                "metrics": {"roc_auc": 0.871, "roc_auc.ci_low": 0.861},
                "assertions": [
                    {
                        "metric": "roc_auc",
                        "op": ">=",
                        "threshold": 0.8,
                        "value": 0.871,
                        "ci": [0.86123, 0.8804],
                        "passed": True,
                        "sentence": "roc_auc 0.871 >= min 0.8",
                    }
                ],
                "details": {
                    "vs_baseline": {
                        "roc_auc": {
                            "champion": 0.86,
                            "difference": 0.011,
                            "ci": [0.0004352, 0.029],
                            "p_value": 0.04,
                        }
                    }
                },
                "warnings": [],
            },
            {
                "name": "bias",
                "status": "passed",
                "blocking": True,
                "message": "demographic_parity_difference 0.100 <= max 0.2 (1 warning)",
                "metrics": {"demographic_parity_difference": 0.1},
                "assertions": [],
                "details": {
                    "groupings": {
                        "sex x age_group": {
                            "groups": [
                                {
                                    "group": name,
                                    "included": True,
                                    "count": n,
                                    "selection_rate": sr,
                                    "true_positive_rate": tpr,
                                    "false_positive_rate": fpr,
                                    "ci": {
                                        "selection_rate": [sr - 0.04, sr + 0.05],
                                        "true_positive_rate": [tpr - 0.06, tpr + 0.05],
                                        "false_positive_rate": [fpr - 0.03, fpr + 0.04],
                                    },
                                }
                                for name, n, sr, tpr, fpr in groups
                            ]
                            + [
                                {
                                    "group": "male/under_25",
                                    "included": False,
                                    "count": 25.0,
                                    "selection_rate": 0.6,
                                    "true_positive_rate": 0.8,
                                    "false_positive_rate": 0.4,
                                }
                            ],
                            "excluded_small_groups": ["male/under_25"],
                        }
                    },
                    "warnings": [f"sex x age_group: {SMALL_GROUP}"],
                },
                "warnings": [f"sex x age_group: {SMALL_GROUP}"],
            },
            {
                "name": "drift",
                "status": "failed",
                "blocking": False,
                "message": "4 of 9 features drifted",
                "metrics": {"drifted_features": 4.0, "share_drifted_features": 0.444},
                "assertions": [
                    {
                        "metric": "drifted_features",
                        "op": "<=",
                        "threshold": 3,
                        "value": 4.0,
                        "ci": None,
                        "passed": False,
                        "sentence": "drifted_features 4 > max 3",
                    }
                ],
                "details": {
                    "histograms": {
                        "age": {"edges": edges, "reference": reference, "eval": evaluation}
                    }
                },
                "warnings": [],
            },
            {
                "name": "latency",
                "status": "passed",
                "blocking": True,
                "message": "p95 4.100 ms at batch 1, p95 9.800 ms at batch 64 (1 warning)",
                "metrics": {"batch_1.p95_ms": 4.1, "batch_1.iterations": 200.0},
                "assertions": [
                    {
                        "metric": "batch_64.p95_ms",
                        "op": "<=",
                        "threshold": 25,
                        "value": 9.8,
                        "ci": [8.82, 10.78],
                        "passed": True,
                        "sentence": "batch_64.p95_ms 9.800 <= max 25",
                    }
                ],
                "details": {
                    "device": {"placement": "gpu", "gpu": {"name": "NVIDIA H200"}},
                    "batches": {
                        "1": {
                            "candidate": _latency(2.1, 4.1, 5.0, 200),
                            "baseline": _latency(2.4, 4.6, 6.1, 200),
                            "iterations": 200,
                            "p95_ratio_vs_baseline": {"value": 0.891, "ci": [0.81234, 0.97]},
                        },
                        "64": {
                            "candidate": _latency(6.3, 9.8, 12.5, 200),
                            "baseline": _latency(7.0, 11.2, 14.0, 200),
                            "iterations": 200,
                            "p95_ratio_vs_baseline": {"value": 0.875, "ci": [0.8, 0.95]},
                        },
                        "512": {
                            "candidate": _latency(31.0, 44.0, 58.0, 120),
                            "iterations": 120,
                        },
                    },
                    "warnings": [NOISY],
                },
                "warnings": [NOISY],
            },
        ],
    }


class _Elements(HTMLParser):
    """Every element's tag, attributes and own text, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": "", "svg": None}
        svgs = [e for e in self._open if e["tag"] == "svg"]
        element["svg"] = svgs[-1]["attrs"] if svgs else None
        self.elements.append(element)
        if tag not in ("rect", "line", "meta", "br", "input", "img", "link"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index]["tag"] == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1]["text"] += data


def _elements(dom: str) -> list[dict[str, Any]]:
    parser = _Elements()
    parser.feed(dom)
    return parser.elements


def _classes(element: dict[str, Any]) -> set[str]:
    return set((element["attrs"].get("class") or "").split())


def _check_dom(dom: str) -> None:
    elements = _elements(dom)
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)))

    # Header: the champion's alias and the version it resolved to.
    verdict = next(e for e in elements if e["attrs"].get("id") == "baseline-resolved")
    assert verdict["text"] == "credit version 3"
    assert "models:/credit@champion → credit version 3" in text

    # Warnings: every sentence in the summary at the top and next to its check.
    summary = re.search(r"id=.warnings.(.*?)</div>", dom, re.S)
    assert summary is not None
    top = [html.unescape(li) for li in re.findall(r"<li>(.*?)</li>", summary[1], re.S)]
    assert top == [f"bias: sex x age_group: {SMALL_GROUP}", f"latency: {NOISY}"]
    assert text.count(NOISY) >= 3  # summary, checks table, latency section (+ not-judged row)
    not_judged = [e for e in elements if "not-judged" in _classes(e) and e["tag"] == "td"]
    assert [e["text"] for e in not_judged] == ["not judged"]

    # Bias: the dropped group is named with its n and the min_group_size; every n shown.
    note = next(e for e in elements if "small-groups" in _classes(e))
    assert "male/under_25 (n=25)" in note["text"] and "min_group_size 30" in note["text"]
    chart_ns = [e["text"] for e in elements if "group-n" in _classes(e) and e["tag"] == "text"]
    assert chart_ns == ["n=412", "n=96", "n=367"]
    table_ns = [e["text"] for e in elements if "group-n" in _classes(e) and e["tag"] == "td"]
    assert table_ns == ["412", "96", "367", "25"]

    # Every chart: legend swatch fills equal the fills of that series' bars, no transparency.
    charts = [e for e in elements if e["tag"] == "svg" and "chart" in _classes(e)]
    assert {c for e in charts for c in _classes(e)} >= {"groups", "histogram", "latency"}
    for chart in charts:
        inside = [e for e in elements if e["svg"] is chart["attrs"]]
        bars = [e["attrs"] for e in inside if "bar" in _classes(e)]
        swatches = {
            e["attrs"]["data-series"]: e["attrs"]["fill"] for e in inside if "swatch" in _classes(e)
        }
        assert bars and swatches
        assert {b["data-series"] for b in bars} == set(swatches)
        for bar in bars:
            assert bar["fill"] == swatches[bar["data-series"]]
            assert "fill-opacity" not in bar and "opacity" not in bar
        # A y-axis with a title, and no tick label printed as 19.000.
        titles = [e["text"] for e in inside if "axis-title" in _classes(e)]
        assert titles, chart["attrs"]
        labels = [e["text"] for e in inside if e["tag"] == "text"]
        assert not [label for label in labels if re.search(r"\.000\b", label)], labels

    histogram = next(e for e in charts if "histogram" in _classes(e))
    inside = [e for e in elements if e["svg"] is histogram["attrs"]]
    assert "share of rows" in [e["text"] for e in inside if "axis-title" in _classes(e)]
    x_ticks = [e["text"] for e in inside if "x-tick" in _classes(e)]
    assert x_ticks == ["0", "5", "10", "15", "20", "25", "30"]

    # Latency: one panel per batch size, and every batch size in the table.
    panels = [e["attrs"]["data-batch"] for e in charts if "latency" in _classes(e)]
    assert panels == ["1", "64", "512"]
    rows = [
        e["attrs"]["data-batch"]
        for e in elements
        if e["tag"] == "tr" and "data-batch" in e["attrs"]
    ]
    assert rows == ["1", "1", "64", "64", "512"]

    # Counts are integers; a CI prints both ends at one precision.
    cells = [e["text"] for e in elements if e["tag"] == "td"]
    for label, count in (
        ("drifted_features 4 > max 3", "4"),  # the assertion's value
        ("drifted_features", "4"),  # all metrics
        ("batch_1.iterations", "200"),
    ):
        assert cells[cells.index(label) + 1] == count, label
    assert "[0.0004, 0.0290]" in text
    intervals = re.findall(r"\[(-?[\d.]+), (-?[\d.]+)\]", text)
    assert intervals
    for low, high in intervals:
        decimals = [len(v.partition(".")[2]) for v in (low, high)]
        assert decimals[0] == decimals[1], (low, high)


def test_fixed_elements_in_the_page():
    _check_dom(render_html(rich_report()))


def test_fixed_elements_render_in_chromium(chromium, tmp_path):  # noqa: F811
    page = tmp_path / "report.html"
    page.write_text(render_html(rich_report()), encoding="utf-8")
    dom = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'p1'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    _check_dom(dom.stdout)

    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'p2'}",
            "--window-size=1200,3400",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = pytest.importorskip("PIL.Image").open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # not a blank page
    present = {colour for _, colour in colours}
    # The bars are painted in the colours their legends show.
    for hex_colour in ("#0969da", "#bc4c00", "#8c959f", "#1a7f37", "#cf222e"):
        rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in present, hex_colour


def test_an_unresolved_alias_says_so():
    report = rich_report()
    del report["resolved"]
    assert "(resolved version not in this report)" in render_html(report)
    report["promotion"] = {"model": "credit", "alias": "champion", "previous_version": "3"}
    assert "→ <span class='resolved' id='baseline-resolved'>credit version 3" in render_html(report)


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.0004352, 0.029, "[0.0004, 0.0290]"),
        (0.86123, 0.8804, "[0.861, 0.880]"),
        (-0.012, 0.0001, "[-0.0120, 0.0001]"),
        (8.82, 10.78, "[8.820, 10.780]"),
        (14200.0, 15100.0, "[14200, 15100]"),
        (None, None, "–"),
    ],
)
def test_intervals_print_both_ends_alike(low, high, expected):
    assert format_interval(low, high) == expected


def test_ticks_are_round_and_print_without_trailing_zeros():
    ticks, step = nice_ticks(3.2, 41.7, 6)
    assert [tick_label(t, step) for t in ticks] == ["10", "20", "30", "40"]
    ticks, step = nice_ticks(0.0, 0.27, 4)
    assert [tick_label(t, step) for t in ticks] == ["0.0", "0.1", "0.2"]
    assert shared_decimals(1e-7, 2e-7) is None
