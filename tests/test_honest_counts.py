"""Issue 15, items 2 and 6: every bootstrap draws the resamples the settings ask for (and
the details say that number), and one definition serves each shared idea: the MinDiff
group, cell counting, safe division.

References are the real libraries on the same rows: scikit-learn with ``sample_weight``
or on repeated rows, fairlearn's MetricFrame on resampled rows.
"""

import ast
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fairlearn.metrics import MetricFrame
from sklearn import metrics as skm

from checks.accuracy import AccuracyCheck
from checks.bias import BiasCheck
from checks.mindiff import MinDiffCheck, sensitive_group
from validate.check import CheckContext
from validate.errors import ConfigError
from validate.results import Status
from validate.stats import counts
from validate.stats import metrics as sm
from validate.stats.fairness import confusion_cells, paired_cells
from validate.stats.intervals import percentile
from validate.stats.metrics import compute_metrics
from validate.stats.quality import PAIRED_ANALYTIC, metric_intervals, paired_intervals

REPO = Path(__file__).resolve().parents[1]


def binary_scores(n, seed, separation=1.0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    return y, 1 / (1 + np.exp(-(separation * y + rng.normal(size=n))))


def regression_data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    return y, y + rng.normal(scale=0.5, size=n), y + rng.normal(scale=0.6, size=n)


# -- item 2: the number of resamples drawn is the number asked for --------------------------


@pytest.mark.parametrize("n_resamples", [50, 1000])
def test_single_model_bootstraps_draw_the_requested_count(n_resamples):
    """R² (regression) and one-vs-rest AUC (multiclass) go through the m-out-of-n bootstrap,
    which kept at most 200 resamples whatever was asked."""
    y, p, _ = regression_data(1500, 0)
    metrics = compute_metrics("regression", y, p)
    found = metric_intervals(
        "regression", y, p, metrics, threshold=0.5, confidence=0.95, n_resamples=n_resamples, seed=0
    )
    assert len(found["r2"].samples) == n_resamples
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 900)
    probs = rng.dirichlet([1, 1, 1], 900)
    probs[np.arange(900), labels] += 1
    probs /= probs.sum(axis=1, keepdims=True)
    metrics = compute_metrics("multiclass", labels, probs)
    found = metric_intervals(
        "multiclass",
        labels,
        probs,
        metrics,
        threshold=0.5,
        confidence=0.95,
        n_resamples=n_resamples,
        seed=0,
    )
    assert len(found["roc_auc_ovr"].samples) == n_resamples
    assert len(found["accuracy"].samples) == n_resamples


@pytest.mark.parametrize("n_resamples", [50, 1000])
def test_paired_bootstraps_draw_the_requested_count(n_resamples):
    """Count metrics drew max(n, 200) and paired average precision always 200."""
    y, a = binary_scores(2000, 2)
    _, b = binary_scores(2000, 3, separation=0.8)
    ma, mb = compute_metrics("binary", y, a), compute_metrics("binary", y, b)
    found = paired_intervals(
        "binary",
        y,
        a,
        b,
        ma,
        mb,
        threshold=0.5,
        confidence=0.95,
        n_resamples=n_resamples,
        seed=0,
        names=tuple(ma),
    )
    for name in ("accuracy", "f1", "average_precision"):
        assert len(found[name].samples) == n_resamples, name
    y, p, q = regression_data(1200, 4)
    mp, mq = compute_metrics("regression", y, p), compute_metrics("regression", y, q)
    found = paired_intervals(
        "regression",
        y,
        p,
        q,
        mp,
        mq,
        threshold=0.5,
        confidence=0.95,
        n_resamples=n_resamples,
        seed=0,
        names=tuple(mp),
    )
    for name in ("rmse", "r2"):
        assert len(found[name].samples) == n_resamples, name


def test_no_resamples_means_no_bootstrap_not_two_hundred():
    y, a = binary_scores(1000, 5)
    _, b = binary_scores(1000, 6)
    ma, mb = compute_metrics("binary", y, a), compute_metrics("binary", y, b)
    found = paired_intervals(
        "binary",
        y,
        a,
        b,
        ma,
        mb,
        threshold=0.5,
        confidence=0.95,
        n_resamples=0,
        seed=0,
        names=tuple(ma),
    )
    assert set(found) == set(ma) & PAIRED_ANALYTIC
    with pytest.raises(ConfigError, match=r"vs_baseline.*n_resamples >= 1"):
        AccuracyCheck.from_config(
            "accuracy",
            {"n_resamples": 0, "vs_baseline": {"accuracy": {"max_drop": 0.01}}},
            task="binary",
        )


def accuracy_context(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south"], n)
    y, p = binary_scores(n, seed)
    return CheckContext(
        task="binary",
        target="y",
        features=(),
        eval_data=pd.DataFrame({"region": region, "y": y}),
        y_true=y,
        candidate_scores=p,
        seed=7,
    )


def test_accuracy_details_report_the_count_its_slices_used():
    """Slices were bootstrapped with min(n, 200) while nothing said so. Each slice's CI is
    now exactly the one the requested count gives on the slice's rows."""
    context = accuracy_context()
    settings = {
        "thresholds": {"accuracy": {"min": 0.5}, "f1": {"min": 0.3}},
        "slices": ["region"],
        "n_resamples": 1000,
    }
    result = AccuracyCheck.from_config("accuracy", settings, task="binary").run(context)
    assert result.status is Status.PASSED, result.message
    assert result.details["n_resamples"] == 1000
    assert not result.warnings
    for entry in result.details["slices"]:
        mask = (context.eval_data["region"] == entry["slice"].split("=")[-1]).to_numpy()
        assert mask.sum() == entry["rows"]
        y, p = context.y_true[mask], context.candidate_scores[mask]
        expected = metric_intervals(
            "binary",
            y,
            p,
            entry["metrics"],
            threshold=0.5,
            confidence=0.95,
            n_resamples=1000,
            seed=context.seed,
        )
        for name, ci in entry["ci"].items():
            assert ci == list(expected[name].ci), (entry["slice"], name)


def test_regression_bias_ci_is_the_row_bootstrap_at_the_configured_count():
    """The regression bias bootstrap looped over at most 200 multinomial weight vectors.
    Reference: fairlearn's MetricFrame on the very rows each resample draws."""
    rng = np.random.default_rng(0)
    n = 600
    sex = rng.choice(["F", "M"], n)
    y = rng.normal(size=n)
    p = y + rng.normal(scale=np.where(sex == "M", 0.5, 1.0))
    context = CheckContext(
        task="regression",
        target="y",
        features=(),
        eval_data=pd.DataFrame({"sex": sex}),
        y_true=y,
        candidate_scores=p,
        seed=11,
    )
    n_resamples = 300  # more than the old cap, few enough for one MetricFrame each
    result = BiasCheck.from_config(
        "bias", {"sensitive_features": ["sex"], "n_resamples": n_resamples}, task="regression"
    ).run(context)
    assert result.details["n_resamples"] == n_resamples
    mae, rmse = [], []
    for drawn in counts.resampled_rows(n, n_resamples, context.seed):
        for rows in drawn:
            frame = MetricFrame(
                metrics={"mae": skm.mean_absolute_error, "rmse": skm.root_mean_squared_error},
                y_true=y[rows],
                y_pred=p[rows],
                sensitive_features=sex[rows],
            )
            difference = frame.difference()
            mae.append(difference["mae"])
            rmse.append(difference["rmse"])
    assert len(mae) == n_resamples
    ci = result.details["groupings"]["sex"]["ci"]
    assert ci["mae_difference"] == pytest.approx(list(percentile(np.array(mae), 0.95)), abs=1e-9)
    assert ci["rmse_difference"] == pytest.approx(list(percentile(np.array(rmse), 0.95)), abs=1e-9)


# The count-weighted metrics that make 1,000 resamples cheap equal scikit-learn's.


def weights_and_rows(rng, n, c=4):
    w = rng.integers(0, 3, (c, n)).astype(float)
    return w, [np.repeat(np.arange(n), row.astype(int)) for row in w]


@pytest.mark.parametrize("seed", range(25))
def test_weighted_metrics_equal_sklearn_on_the_drawn_rows(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 80))
    y = rng.integers(0, 2, n)
    p = np.round(rng.random(n), 1)  # ties
    w, rows = weights_and_rows(rng, n)
    auc, ap = sm.weighted_roc_auc(y, p, w), sm.weighted_average_precision(y, p, w)
    for i, r in enumerate(rows):
        if len(np.unique(y[r])) < 2:
            assert np.isnan(auc[i])
            continue
        assert auc[i] == pytest.approx(skm.roc_auc_score(y[r], p[r]), abs=1e-12)
        assert ap[i] == pytest.approx(skm.average_precision_score(y[r], p[r]), abs=1e-12)
        assert auc[i] == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w[i]), abs=1e-12)
    target = rng.normal(size=n)
    if seed % 5 == 0:
        target[:] = 2.0  # constant y: scikit-learn's force_finite convention
    predicted = target + rng.normal(size=n)
    r2, rmse = sm.weighted_r2(target, predicted, w), sm.weighted_rmse(target, predicted, w)
    for i, r in enumerate(rows):
        if len(r):
            assert r2[i] == pytest.approx(skm.r2_score(target[r], predicted[r]), abs=1e-9)
            assert rmse[i] == pytest.approx(
                skm.root_mean_squared_error(target[r], predicted[r]), abs=1e-12
            )
    labels = rng.integers(0, 3, n)
    probs = rng.dirichlet([1, 1, 1], n)
    ovr = sm.weighted_roc_auc_ovr(labels, probs, w)
    for i, r in enumerate(rows):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = skm.roc_auc_score(
                    labels[r], probs[r], multi_class="ovr", labels=[0, 1, 2]
                )
        except ValueError:
            expected = np.nan
        if np.isnan(expected):
            assert np.isnan(ovr[i])
        else:
            assert ovr[i] == pytest.approx(expected, abs=1e-12)


def test_resampled_rows_are_the_requested_count_in_bounded_chunks():
    n_rows, n_resamples = 300_000, 1000
    chunks = list(counts.resampled_rows(n_rows, n_resamples, seed=0))
    assert sum(len(c) for c in chunks) == n_resamples
    assert all(c.size <= max(counts.CHUNK_CELLS, n_rows) for c in chunks)
    drawn = chunks[0][:3]
    weights = counts.row_counts(drawn, n_rows)
    assert weights.sum(axis=1).tolist() == [n_rows] * 3
    assert np.array_equal(weights[1], np.bincount(drawn[1], minlength=n_rows))


# -- item 6: one definition of each shared idea ---------------------------------------------


def mindiff_context(sex, seed=0):
    rng = np.random.default_rng(seed)
    n = len(sex)
    y = (rng.random(n) < 0.3).astype(int)
    return CheckContext(
        task="binary",
        target="y",
        features=(),
        eval_data=pd.DataFrame({"sex": sex, "y": y, "x": rng.normal(size=n)}),
        y_true=y,
        candidate_scores=rng.random(n),
        seed=1,
    )


def write_remediation_config(tmp_path, eval_sex, train_sex, **mindiff):
    rng = np.random.default_rng(0)
    for name, sex in (("eval", eval_sex), ("train", train_sex)):
        pd.DataFrame(
            {"sex": sex, "x": rng.normal(size=len(sex)), "y": rng.integers(0, 2, len(sex))}
        ).to_parquet(tmp_path / f"{name}.parquet", index=False)
    config = {
        "version": 1,
        "model": {"candidate": str(tmp_path / "candidate.keras")},
        "data": {
            "eval": "eval.parquet",
            "train": "train.parquet",
            "target": "y",
            "features": ["x"],
            "task": "binary",
        },
        "checks": {"mindiff": {"sensitive_feature": "sex", **mindiff}},
        "mlflow": {"experiment": "tests"},
    }
    path = tmp_path / "validation.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def remediation_group(path):
    from validate.config import load_config
    from validate.remediation import chosen_group

    loaded = load_config(str(path))
    section = loaded.config.checks["mindiff"]
    check = MinDiffCheck.from_config("mindiff", section, task="binary")
    return chosen_group(loaded, check.settings)


def test_remediation_trains_against_the_group_the_check_measures(tmp_path):
    """Two groups: the check takes the rarer in the eval data; remediation used to take the
    rarer in the training data, which here is the other one."""
    pytest.importorskip("tensorflow_model_remediation")
    eval_sex = np.array(["F"] * 200 + ["M"] * 300)
    train_sex = np.array(["F"] * 600 + ["M"] * 400)
    path = write_remediation_config(tmp_path, eval_sex, train_sex)
    check = MinDiffCheck.from_config(
        "mindiff", {"sensitive_feature": "sex", "n_resamples": 0}, task="binary"
    )
    measured = check.run(mindiff_context(eval_sex)).details["sensitive_group"]
    assert measured == "F"
    assert remediation_group(path) == measured


def test_three_groups_need_sensitive_group_in_the_check_and_in_remediation(tmp_path):
    """The check refused a three-valued column; remediation silently took the smallest."""
    eval_sex = np.array(["F"] * 200 + ["M"] * 300 + ["X"] * 20)
    path = write_remediation_config(tmp_path, eval_sex, eval_sex)
    check = MinDiffCheck.from_config("mindiff", {"sensitive_feature": "sex"}, task="binary")
    result = check.run(mindiff_context(eval_sex))
    assert result.status is Status.ERROR
    assert "set sensitive_group" in result.message and "3 value(s)" in result.message
    with pytest.raises(ConfigError, match=r"3 value\(s\).*set sensitive_group"):
        remediation_group(path)
    from validate.remediation import remediate

    # Before any model is loaded or trained (the candidate file does not even exist).
    with pytest.raises(ConfigError, match=r"checks\.mindiff\.sensitive_group"):
        remediate(str(path), str(tmp_path / "out"))
    named = write_remediation_config(tmp_path, eval_sex, eval_sex, sensitive_group="X")
    assert remediation_group(named) == "X"
    assert sensitive_group(pd.Series(eval_sex), "sex", "X") == "X"


def test_two_equally_common_values_have_no_rarer_one():
    with pytest.raises(ConfigError, match="as many 'F' as 'M'"):
        sensitive_group(pd.Series(["F", "M"] * 10), "sex", None)


def test_remediation_table_names_the_group():
    from validate.remediation import RemediationOutcome

    report = {"decision": "pass", "checks": [{"metrics": {"mmd": 0.1}}]}
    outcome = RemediationOutcome(
        Path("m.keras"), report, report, sensitive_feature="sex", sensitive_group="F"
    )
    assert outcome.table().startswith("MinDiff trained against sex = 'F' vs the rest")


def test_cells_are_counted_by_one_function():
    rng = np.random.default_rng(0)
    groups, y, a, b = rng.integers(0, 3, 500), *rng.integers(0, 2, (3, 500))
    expected = np.zeros((3, 2, 2, 2))
    np.add.at(expected, (groups, y, a, b), 1)
    assert np.array_equal(paired_cells(groups, y, a, b, 3), expected)
    assert np.array_equal(confusion_cells(groups, y, a, 3), expected.sum(axis=-1))
    assert np.array_equal(counts.cells([groups, y, a, b], (3, 2, 2, 2)), expected)
    sources = {
        path.name: ast.parse(path.read_text())
        for path in (REPO / "validate" / "stats").glob("*.py")
    }
    counting = [
        f"{name}:{node.name}"
        for name, tree in sources.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and any(
            isinstance(call, ast.Attribute) and call.attr == "bincount" for call in ast.walk(node)
        )
        and "cells" in node.name
    ]
    assert counting == ["counts.py:cells"]
    divisions = [
        f"{name}:{node.name}"
        for name, tree in sources.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name in {"_div", "_rate", "safe_divide"}
    ]
    assert divisions == ["counts.py:safe_divide"]


def test_no_module_imports_another_modules_private_names():
    """``metrics`` imported ``quality._cells`` and friends, and ``checks.bias`` reached into
    ``fairness._quiet_all_nan``."""
    offenders = []
    for path in [*(REPO / "validate").rglob("*.py"), *(REPO / "checks").glob("*.py")]:
        tree = ast.parse(path.read_text())
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                ("validate", "checks")
            ):
                offenders += [
                    f"{path.name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
                modules |= {a.asname or a.name for a in node.names}
            elif isinstance(node, ast.Import):
                modules |= {a.asname or a.name for a in node.names if a.name.startswith("validate")}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                offenders.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert not offenders


def test_a_metric_without_a_weighted_form_is_computed_once_per_resample():
    """The fallback no metric of ours needs today: scikit-learn on each resample's rows."""
    from validate.stats.quality import _weighted

    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 2, 40), rng.random(40)
    w, rows = weights_and_rows(rng, 40)
    w[0] = 0
    w[0, np.flatnonzero(y == 1)[:2]] = 5  # one class only: undefined, NaN
    values = _weighted("binary", 0.5, "f1")(y, p, w)
    assert len(values) == len(w)
    for value, r in zip(values[1:], rows[1:], strict=True):
        assert value == pytest.approx(skm.f1_score(y[r], (p[r] >= 0.5).astype(int)), abs=1e-12)
    auc = _weighted("binary", 0.5, "roc_auc")(y, p, w)
    assert np.isnan(auc[0])
