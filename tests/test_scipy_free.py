"""The drift statistics computed without scipy.stats equal scipy's, and a large drift run
never imports scipy.stats (it costs more than the statistics: issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from validate.stats import drift as ds


@pytest.mark.parametrize("seed", range(5))
def test_chi_square_homogeneity_is_scipys(seed):
    rng = np.random.default_rng(seed)
    table = rng.integers(1, 500, size=(2, int(rng.integers(2, 9))))
    statistic, p_value = ds.chi_square_homogeneity(table)
    reference = stats.chi2_contingency(table, correction=False)
    assert statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)


def test_one_category_is_no_evidence_of_change():
    assert ds.chi_square_homogeneity(np.array([[10], [20]])) == (0.0, 1.0)


def test_jensen_shannon_rows_are_scipys():
    rng = np.random.default_rng(1)
    p = rng.integers(0, 50, size=(7, 6)).astype(float) + np.eye(7, 6)  # some zero cells
    q = rng.integers(0, 50, size=(7, 6)).astype(float) + 1
    expected = distance.jensenshannon(p, q, base=2, axis=1)
    assert ds.jensen_shannon_rows(p, q) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_benjamini_hochberg_by_the_textbook_loop():
    # Independent of scipy: adjusted p_(i) = min over j >= i of p_(j) m / j, capped at 1.
    rng = np.random.default_rng(2)
    p = np.concatenate([rng.random(30), rng.random(10) * 1e-3, [0.5, 0.5]])
    ordered = sorted(range(len(p)), key=lambda i: p[i])
    m = len(p)
    expected = np.empty(m)
    for rank, i in enumerate(ordered, start=1):
        expected[i] = min(
            min(p[ordered[j - 1]] * m / j for j in range(rank, m + 1)),
            1.0,
        )
    assert ds.benjamini_hochberg(list(p)) == pytest.approx(expected, rel=1e-12)
    assert ds.benjamini_hochberg(list(p)) == pytest.approx(
        stats.false_discovery_control(p, method="bh"), rel=1e-12
    )


@pytest.mark.parametrize("rows", [12_000, 60_000])
def test_informative_ks_p_value_is_within_half_a_percent_of_scipys(rows):
    rng = np.random.default_rng(rows)
    a, b = rng.normal(size=rows), rng.normal(0.02, 1, size=rows)
    scipy_result = stats.ks_2samp(a, b)  # its asymptotic path at this size: kstwo
    ours = ds.ks_p_value(np.sort(a), np.sort(b), scipy_result.statistic, exact=False)
    assert scipy_result.pvalue > 1e-3
    assert ours == pytest.approx(scipy_result.pvalue, rel=0.005)
    exact = ds.ks_p_value(np.sort(a), np.sort(b), scipy_result.statistic, exact=True)
    assert exact == pytest.approx(scipy_result.pvalue, rel=1e-9)


def test_small_samples_keep_scipys_exact_p_value():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=300), rng.normal(0.3, 1, size=400)
    result = stats.ks_2samp(a, b)
    assert ds.ks_p_value(a, b, result.statistic, exact=False) == result.pvalue


def test_a_large_drift_run_imports_no_scipy_stats(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import pandas as pd
        from checks.drift import DriftCheck
        from validate.check import CheckContext

        rng = np.random.default_rng(0)
        n = 20_000
        reference = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(list("abc"), n)})
        current = pd.DataFrame({"x": rng.normal(0.5, 1, n), "c": rng.choice(list("abd"), n)})
        context = CheckContext(
            task="binary", target="label", features=("x", "c"), eval_data=current,
            reference_data=reference, y_true=(rng.random(n) < 0.3).astype(int),
            candidate_scores=rng.random(n),
        )
        result = DriftCheck.from_config("drift", {}, task="binary").run(context)
        assert result.metrics["drifted_features"] == 2, result.message
        print(sorted(m for m in sys.modules if m.startswith("scipy.stats")))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_large_numeric_drift_run_imports_no_scipy_at_all():
    """scipy.special (0.15-0.2 s to import) is only for categorical columns."""
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import pandas as pd
        from checks.drift import DriftCheck
        from validate.check import CheckContext

        rng = np.random.default_rng(0)
        n = 20_000
        reference = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n)})
        current = pd.DataFrame({"x": rng.normal(0.5, 1, n), "y": rng.normal(size=n)})
        context = CheckContext(
            task="binary", target="label", features=("x", "y"), eval_data=current,
            reference_data=reference, y_true=(rng.random(n) < 0.3).astype(int),
            candidate_scores=rng.random(n),
        )
        for config in ({}, {"column_judge": "point"}):
            result = DriftCheck.from_config("drift", config, task="binary").run(context)
            assert result.metrics["drifted_features"] == 1, result.message
        print(sorted(m for m in sys.modules if m.startswith("scipy")))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_average_ranks_are_scipys_rankdata():
    from validate.stats.auc import average_ranks

    rng = np.random.default_rng(6)
    for values in (rng.normal(size=500), rng.integers(0, 7, 500).astype(float), np.ones(3)):
        assert average_ranks(values) == pytest.approx(stats.rankdata(values), rel=1e-15)


def test_normal_quantiles_are_scipys():
    from validate.stats import intervals as iv

    for confidence in (0.8, 0.9, 0.95, 0.99):
        assert iv.z_value(confidence) == pytest.approx(
            stats.norm.ppf(1 - (1 - confidence) / 2), rel=1e-14
        )


def test_kolmogorov_survival_is_scipys_to_1e13():
    from scipy import special

    from validate.stats.normal import kolmogorov_sf

    # Both series, the cut-over between them, and the far tail where scipy reaches 0.
    xs = np.concatenate([np.linspace(0, 12, 24_001), [1e-9, 0.04, 0.81999, 0.82, 0.82001, 27.0]])
    for x in xs:
        expected = float(special.kolmogorov(x))
        assert kolmogorov_sf(float(x)) == pytest.approx(expected, rel=1e-13, abs=1e-300)
    assert kolmogorov_sf(-1.0) == 1.0 and np.isnan(kolmogorov_sf(float("nan")))


def test_chi_square_survival_is_scipys():
    from scipy import special

    from validate.stats.normal import chi_square_sf

    for dof in [*range(1, 41), 99, 100, 2000]:
        for x in [*np.geomspace(1e-8, 3 * dof + 400, 60), dof, dof + 0.5]:
            expected = float(special.chdtrc(dof, x))
            tolerance = 1e-12 if dof <= 100 else 5e-12
            assert chi_square_sf(dof, float(x)) == pytest.approx(
                expected, rel=tolerance, abs=1e-300
            )
    assert chi_square_sf(3, 0.0) == 1.0 and np.isnan(chi_square_sf(3, float("nan")))


def test_normal_cdf_and_quantile_are_scipys_to_1e12_tails_included():
    from scipy import special

    from validate.stats.normal import cdf, quantile

    rng = np.random.default_rng(11)
    xs = np.concatenate([rng.normal(0, 3, 20_000), [-37.5, -20, -8.3, 0, 8.3, 30]])
    for x in xs:
        assert cdf(float(x)) == pytest.approx(special.ndtr(x), rel=1e-12, abs=1e-300)
    ps = np.concatenate(
        [rng.random(20_000), [1e-300, 1e-20, 1e-10, 0.025, 0.5, 0.975, 1 - 1e-10, 1 - 1e-16]]
    )
    for p in ps:
        assert quantile(float(p)) == pytest.approx(special.ndtri(p), rel=1e-12)
    assert quantile(0.0) == -np.inf and quantile(1.0) == np.inf
    assert np.isnan(quantile(-0.1)) and np.isnan(quantile(1.5))


def test_a_bias_run_process_imports_no_scipy(tmp_path):
    """Bias on precomputed scores needs the normal CDF and quantile only (and the run
    creates and writes its sqlite store without MLflow, which would import scipy)."""
    frame = pd.DataFrame(
        {
            "label": np.tile([0, 1], 500),
            "score": np.linspace(0, 1, 1000),
            "group": np.repeat(["a", "b"], 500),
        }
    )
    frame.to_parquet(tmp_path / "eval.parquet")
    (tmp_path / "validation.yaml").write_text(
        "data: {eval: eval.parquet, target: label, prediction: score}\n"
        "checks:\n  bias: {sensitive_features: [group]}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "validate", "run", "-c", "validation.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr[-2000:]
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "validate.stats.fairness" in imported
    assert {m for m in imported if m.split(".")[0] == "scipy"} == set()
