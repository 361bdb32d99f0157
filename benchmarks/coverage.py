"""Do validate's confidence intervals cover the true value as often as they say?

Each family below simulates data whose true metric value is known independently of
the code under test (a closed form where one exists, numerical integration with
scipy otherwise), runs the real interval code on many seeded draws, and counts how
often the 95% interval holds the truth. A miss is split by side: ``below`` (the
truth is under the interval) and ``above`` (over it), since a one-sided gate only
cares about one of them.

Shared by ``tests/test_coverage.py`` (fewer draws, a binomial test) and
``benchmarks/verdict_quality.py --coverage`` (the table).

Simulated worlds:

* binary: y ~ Bernoulli(0.3), latent s | y ~ N(mu·y, 1) (binormal, so ROC AUC =
  Φ(mu/√2)), score = the calibrated posterior P(y = 1 | s); threshold 0.5. The paired
  world adds a champion that shares 90% of the candidate's noise variance.
* regression: y ~ N(10, 2²), prediction = y + e, e ~ N(0.2, 1) (candidate) or
  N(0, 1.2²) (champion), independent of y.
* fairness: two groups (60/40), known prevalence, TPR and FPR per group and model;
  decisions are 0/1 scores, so the gate's threshold keeps them.
* latency: shifted log-normal call times (1.5 ms + LogNormal(log 0.5, 0.5)),
  candidate and champion sharing half their log-variance, call by call.
* MinDiff: two groups of fixed size with normal scores; MMD² under MinDiff's
  Gaussian kernel exp(−d²/0.1²) and the absolute correlation in closed form.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
from scipy import integrate, stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Coverage:
    """How often one family's intervals held the truth."""

    family: str
    truth: float
    draws: int
    rows: int
    hits: int
    below: int  # truth < low: the interval sat too high
    above: int  # truth > high: the interval sat too low
    mean_width: float
    nominal: float = CONFIDENCE

    @property
    def coverage(self) -> float:
        return self.hits / self.draws

    def row(self) -> str:
        return (
            f"{self.family:<44} {self.nominal:>5.0%} {self.coverage:>8.1%} "
            f"{self.below / self.draws:>6.1%} {self.above / self.draws:>6.1%} "
            f"{self.draws:>6} {self.rows:>6} {self.mean_width:>10.4g}"
        )


HEADER = (
    f"{'family':<44} {'nominal':>5} {'coverage':>8} {'below':>6} {'above':>6} "
    f"{'draws':>6} {'rows':>6} {'mean width':>10}"
)


class _Tally:
    def __init__(self, truths: dict[str, float]) -> None:
        self.truths = truths
        self.seen: dict[str, list[tuple[float, float]]] = {name: [] for name in truths}

    def add(self, name: str, low: float, high: float) -> None:
        self.seen[name].append((float(low), float(high)))

    def result(self, rows: int, prefix: str = "") -> dict[str, Coverage]:
        out = {}
        for name, truth in self.truths.items():
            bounds = np.array(self.seen[name], dtype=float).reshape(-1, 2)
            low, high = bounds[:, 0], bounds[:, 1]
            out[name] = Coverage(
                family=f"{prefix}{name}",
                truth=truth,
                draws=len(bounds),
                rows=rows,
                hits=int(np.sum((low <= truth) & (truth <= high))),
                below=int(np.sum(truth < low)),
                above=int(np.sum(truth > high)),
                mean_width=float(np.mean(high - low)) if len(bounds) else float("nan"),
            )
        return out


# -- binary classification --------------------------------------------------------------

PREVALENCE = 0.3
THRESHOLD = 0.5


def _mu(auc: float) -> float:
    return float(np.sqrt(2) * stats.norm.ppf(auc))


def _logit_of_score(mu: float, s: np.ndarray | float) -> np.ndarray | float:
    """log-odds of the calibrated posterior P(y=1 | s) for s | y ~ N(mu·y, 1)."""
    return np.log(PREVALENCE / (1 - PREVALENCE)) + mu * s - mu**2 / 2


def _expect(function: Callable[[float], float], mean: float) -> float:
    """E[function(s)] for s ~ N(mean, 1), by quadrature."""
    value, _ = integrate.quad(lambda s: function(s) * stats.norm.pdf(s - mean), -12, 12 + mean)
    return float(value)


def binary_truths(auc: float) -> dict[str, float]:
    """Population metrics of the binormal, calibrated-score model at ``auc``."""
    mu, pi = _mu(auc), PREVALENCE
    cut = (mu**2 / 2 - np.log(pi / (1 - pi))) / mu  # score >= 0.5 exactly when s >= cut
    tpr, fpr = float(stats.norm.sf(cut - mu)), float(stats.norm.sf(cut))
    tp, fp, fn = pi * tpr, (1 - pi) * fpr, pi * (1 - tpr)

    def softplus(t: float) -> float:
        return float(np.logaddexp(0.0, t))

    def prob(s: float) -> float:
        return float(1 / (1 + np.exp(-_logit_of_score(mu, s))))

    def ppv(t: float) -> float:
        positive = pi * stats.norm.sf(t - mu)
        return float(positive / (positive + (1 - pi) * stats.norm.sf(t)))

    return {
        "roc_auc": auc,
        "accuracy": tp + (1 - pi) * (1 - fpr),
        "precision": tp / (tp + fp),
        "recall": tpr,
        "f1": 2 * tp / (2 * tp + fp + fn),
        "log_loss": pi * _expect(lambda s: softplus(-_logit_of_score(mu, s)), mu)
        + (1 - pi) * _expect(lambda s: softplus(_logit_of_score(mu, s)), 0.0),
        "brier": pi * _expect(lambda s: (1 - prob(s)) ** 2, mu)
        + (1 - pi) * _expect(lambda s: prob(s) ** 2, 0.0),
        # AP = ∫ precision d(recall): recall falls as the cut t rises, d(recall) = φ(t − mu) dt
        "average_precision": _expect(ppv, mu),
    }


def _binary_draw(
    rng: np.random.Generator, rows: int, aucs: tuple[float, ...], shared: float = 0.9
) -> tuple[np.ndarray, list[np.ndarray]]:
    y = (rng.random(rows) < PREVALENCE).astype(np.int64)
    common = rng.normal(size=rows)
    scores = []
    for auc in aucs:
        mu = _mu(auc)
        noise = np.sqrt(shared) * common + np.sqrt(1 - shared) * rng.normal(size=rows)
        scores.append(1 / (1 + np.exp(-_logit_of_score(mu, mu * y + noise))))
    return y, scores


BINARY_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier")


def binary_single(draws: int, rows: int = 1000, seed: int = 0) -> dict[str, Coverage]:
    """``quality.metric_intervals`` on a binary model: DeLong, multinomial, CLT, Boyd."""
    from validate.stats.metrics import compute_metrics
    from validate.stats.quality import metric_intervals

    names = (*BINARY_METRICS, "average_precision")
    tally = _Tally({k: v for k, v in binary_truths(0.80).items() if k in names})
    rng = np.random.default_rng([seed, 1])
    for draw in range(draws):
        y, (p,) = _binary_draw(rng, rows, (0.80,))
        metrics = compute_metrics("binary", y, p, THRESHOLD, names=names)
        found = metric_intervals(
            "binary", y, p, metrics, threshold=THRESHOLD, confidence=CONFIDENCE,
            n_resamples=1000, seed=draw,
        )  # fmt: skip
        for name in names:
            tally.add(name, *found[name].ci)
    return tally.result(rows)


def binary_paired(draws: int, rows: int = 1000, seed: int = 0) -> dict[str, Coverage]:
    """``quality.paired_intervals``, candidate (AUC 0.82) − champion (AUC 0.80)."""
    from validate.stats.metrics import compute_metrics
    from validate.stats.quality import paired_intervals

    cand, champ = binary_truths(0.82), binary_truths(0.80)
    tally = _Tally({k: cand[k] - champ[k] for k in BINARY_METRICS})
    rng = np.random.default_rng([seed, 2])
    for draw in range(draws):
        y, (a, b) = _binary_draw(rng, rows, (0.82, 0.80))
        ma = compute_metrics("binary", y, a, THRESHOLD, names=BINARY_METRICS)
        mb = compute_metrics("binary", y, b, THRESHOLD, names=BINARY_METRICS)
        found = paired_intervals(
            "binary", y, a, b, ma, mb, threshold=THRESHOLD, confidence=CONFIDENCE,
            n_resamples=1000, seed=draw, names=BINARY_METRICS,
        )  # fmt: skip
        for name in BINARY_METRICS:
            tally.add(name, *found[name].ci)
    return tally.result(rows, prefix="paired ")


def paired_average_precision(draws: int, rows: int = 1000, seed: int = 0) -> dict[str, Coverage]:
    """The paired AP difference: ``paired_intervals``' m-out-of-n bootstrap (200 resamples;
    m = n at these sizes, so the plain percentile bootstrap)."""
    from validate.stats.metrics import compute_metrics
    from validate.stats.quality import paired_intervals

    names = ("average_precision",)
    truth = binary_truths(0.82)[names[0]] - binary_truths(0.80)[names[0]]
    tally = _Tally({names[0]: truth})
    rng = np.random.default_rng([seed, 3])
    for draw in range(draws):
        y, (a, b) = _binary_draw(rng, rows, (0.82, 0.80))
        ma = compute_metrics("binary", y, a, THRESHOLD, names=names)
        mb = compute_metrics("binary", y, b, THRESHOLD, names=names)
        found = paired_intervals(
            "binary", y, a, b, ma, mb, threshold=THRESHOLD, confidence=CONFIDENCE,
            n_resamples=200, seed=draw, names=names,
        )  # fmt: skip
        tally.add(names[0], *found[names[0]].ci)
    return tally.result(rows, prefix="paired ")


# -- regression --------------------------------------------------------------------------

Y_MEAN, Y_SD = 10.0, 2.0
ERRORS = {"candidate": (0.2, 1.0), "champion": (0.0, 1.2)}  # (mean, sd) of prediction − y


def regression_truths(bias: float, sd: float) -> dict[str, float]:
    """MAE, RMSE and MAPE of e ~ N(bias, sd²) independent of y ~ N(10, 2²); R² = 1 − MSE/var y."""
    mae = sd * np.sqrt(2 / np.pi) * np.exp(-(bias**2) / (2 * sd**2)) + bias * (
        1 - 2 * stats.norm.cdf(-bias / sd)
    )
    mse = bias**2 + sd**2
    inverse_y, _ = integrate.quad(
        lambda t: stats.norm.pdf(t, Y_MEAN, Y_SD) / abs(t), Y_MEAN - 4.9 * Y_SD, Y_MEAN + 12 * Y_SD
    )  # y is never within 0.2 of zero in practice: P(y < 0.2) = Φ(−4.9), negligible
    return {
        "mae": float(mae),
        "rmse": float(np.sqrt(mse)),
        "mape": float(mae * inverse_y),
        "r2": float(1 - mse / Y_SD**2),
    }


def _regression_draw(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, list[np.ndarray]]:
    y = rng.normal(Y_MEAN, Y_SD, rows)
    return y, [y + rng.normal(m, s, rows) for m, s in ERRORS.values()]


def regression(draws: int, rows: int = 1000, seed: int = 0) -> dict[str, Coverage]:
    """CLT intervals of MAE, MAPE and RMSE, single and paired (MAE, MAPE)."""
    from validate.stats.metrics import compute_metrics
    from validate.stats.quality import metric_intervals, paired_intervals

    single = ("mae", "mape", "rmse")
    paired = ("mae", "mape")
    cand = regression_truths(*ERRORS["candidate"])
    champ = regression_truths(*ERRORS["champion"])
    truths = {k: cand[k] for k in single}
    truths.update({f"paired {k}": cand[k] - champ[k] for k in paired})
    tally = _Tally(truths)
    rng = np.random.default_rng([seed, 4])
    for draw in range(draws):
        y, (a, b) = _regression_draw(rng, rows)
        ma = compute_metrics("regression", y, a, names=single)
        mb = compute_metrics("regression", y, b, names=single)
        found = metric_intervals(
            "regression", y, a, ma, threshold=THRESHOLD, confidence=CONFIDENCE,
            n_resamples=0, seed=draw,
        )  # fmt: skip
        for name in single:
            tally.add(name, *found[name].ci)
        diff = paired_intervals(
            "regression", y, a, b, ma, mb, threshold=THRESHOLD, confidence=CONFIDENCE,
            n_resamples=0, seed=draw, names=paired,
        )  # fmt: skip
        for name in paired:
            tally.add(f"paired {name}", *diff[name].ci)
    return tally.result(rows)


def subsample_r2(draws: int, rows: int = 8000, seed: int = 0) -> dict[str, Coverage]:
    """R² through ``quality.metric_intervals``: the m-out-of-n bootstrap (200 resamples),
    with n = 8,000 rows above its m = 5,000, so the √(m/n) rescaling is exercised."""
    from validate.stats.metrics import compute_metrics
    from validate.stats.quality import metric_intervals

    tally = _Tally({"r2": regression_truths(*ERRORS["candidate"])["r2"]})
    rng = np.random.default_rng([seed, 5])
    for draw in range(draws):
        y, (a, _) = _regression_draw(rng, rows)
        found = metric_intervals(
            "regression", y, a, compute_metrics("regression", y, a, names=("r2",)),
            threshold=THRESHOLD, confidence=CONFIDENCE, n_resamples=200, seed=draw,
        )  # fmt: skip
        tally.add("r2", *found["r2"].ci)
    return tally.result(rows, prefix="m-out-of-n bootstrap ")


# -- fairness ----------------------------------------------------------------------------

GROUP_SHARES = {"a": 0.6, "b": 0.4}
GROUP_PREVALENCE = {"a": 0.3, "b": 0.2}
# (TPR, FPR) per group: the candidate's gaps are 0.25 TPR, 0.05 FPR; the champion's 0.16, 0.04
RATES = {
    "candidate": {"a": (0.80, 0.10), "b": (0.55, 0.05)},
    "champion": {"a": (0.78, 0.12), "b": (0.62, 0.08)},
}
FAIRNESS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
)


def fairness_truths(rates: dict[str, tuple[float, float]]) -> dict[str, float]:
    selection = {
        g: GROUP_PREVALENCE[g] * tpr + (1 - GROUP_PREVALENCE[g]) * fpr
        for g, (tpr, fpr) in rates.items()
    }
    tprs, fprs = [r[0] for r in rates.values()], [r[1] for r in rates.values()]
    return {
        "demographic_parity_difference": max(selection.values()) - min(selection.values()),
        "demographic_parity_ratio": min(selection.values()) / max(selection.values()),
        "equalized_odds_difference": max(max(tprs) - min(tprs), max(fprs) - min(fprs)),
    }


def _fairness_draw(rng: np.random.Generator, rows: int, rates: dict[str, dict]) -> tuple:
    import pandas as pd

    group = rng.choice(list(GROUP_SHARES), rows, p=list(GROUP_SHARES.values()))
    prevalence = np.vectorize(GROUP_PREVALENCE.get)(group)
    y = (rng.random(rows) < prevalence).astype(np.int64)
    common = rng.random(rows)  # the two models agree on 80% of rows' draws
    own = np.where(rng.random(rows) < 0.8, common, rng.random(rows))
    decisions = []
    for model, u in (("candidate", common), ("champion", own)):
        tpr = np.vectorize(lambda g, m=model: rates[m][g][0])(group)
        fpr = np.vectorize(lambda g, m=model: rates[m][g][1])(group)
        decisions.append((u < np.where(y == 1, tpr, fpr)).astype(float))
    return pd.DataFrame({"group": group}), y, decisions


def fairness(
    draws: int, rows: int = 2000, seed: int = 0, rates: dict[str, dict] | None = None
) -> dict[str, Coverage]:
    """The bias check's bootstrap CIs (1,000 multinomial resamples of the cells) of the
    aggregates and of their change vs the champion, from ``BiasCheck.run``."""
    from checks.bias import BiasCheck
    from validate.check import CheckContext

    rates = rates or RATES
    cand, champ = fairness_truths(rates["candidate"]), fairness_truths(rates["champion"])
    truths = dict(cand)
    truths.update({f"{k} vs_baseline": cand[k] - champ[k] for k in FAIRNESS})
    tally = _Tally(truths)
    check = BiasCheck.from_config("bias", {"sensitive_features": ["group"]}, task="binary")
    rng = np.random.default_rng([seed, 6])
    for draw in range(draws):
        frame, y, (a, b) = _fairness_draw(rng, rows, rates)
        context = CheckContext(
            task="binary", target="y", features=(), eval_data=frame, y_true=y,
            candidate_scores=a, baseline_scores=b, seed=draw,
        )  # fmt: skip
        found = check.run(context).details["groupings"]["group"]
        for name in FAIRNESS:
            tally.add(name, *found["ci"][name])
            tally.add(f"{name} vs_baseline", *found["change_vs_baseline"][name]["ci"])
    return tally.result(rows)


# No equalized-odds gap: both models' TPR and FPR equal across groups, so the true
# equalized_odds_difference is 0, an edge of its range (a max − min is never below 0).
EQUAL_ODDS = {
    "candidate": {"a": (0.70, 0.10), "b": (0.70, 0.10)},
    "champion": {"a": (0.75, 0.12), "b": (0.75, 0.12)},
}


# -- latency -----------------------------------------------------------------------------

SHIFT_MS, LOG_MEDIAN, LOG_SD = 1.5, np.log(0.5), 0.5
CHAMPION_SCALE = 0.9  # the champion's variable part is 10% faster


def latency_quantile(q: float, scale: float = 1.0) -> float:
    return float(SHIFT_MS + scale * np.exp(LOG_MEDIAN + LOG_SD * stats.norm.ppf(q / 100)))


def latency(draws: int, iterations: int = 200, seed: int = 0) -> dict[str, Coverage]:
    """``latency.bootstrap_intervals`` (p50, p95, p99) and ``latency.paired_ratio`` (p95),
    1,000 resamples, at the check's default 200 timed calls."""
    from validate.stats.latency import bootstrap_intervals, paired_ratio

    truths = {f"p{q}_ms": latency_quantile(q) for q in (50, 95, 99)}
    truths["p95 ratio vs champion"] = latency_quantile(95) / latency_quantile(95, CHAMPION_SCALE)
    tally = _Tally(truths)
    rng = np.random.default_rng([seed, 7])
    for draw in range(draws):
        shared, own = rng.normal(size=(2, iterations)) * np.sqrt(0.5)
        candidate = SHIFT_MS + np.exp(LOG_MEDIAN + LOG_SD * (shared + own))
        own = rng.normal(size=iterations) * np.sqrt(0.5)
        champion = SHIFT_MS + CHAMPION_SCALE * np.exp(LOG_MEDIAN + LOG_SD * (shared + own))
        cand_ns, champ_ns = np.round(candidate * 1e6), np.round(champion * 1e6)
        found = bootstrap_intervals(cand_ns, 1, n_resamples=1000, confidence=CONFIDENCE, seed=draw)
        for q in (50, 95, 99):
            tally.add(f"p{q}_ms", *found[f"p{q}_ms"])
        _, ratio_ci = paired_ratio(
            cand_ns, champ_ns, n_resamples=1000, confidence=CONFIDENCE, seed=draw
        )
        tally.add("p95 ratio vs champion", *ratio_ci)
    return tally.result(iterations, prefix="latency ")


# -- MinDiff -----------------------------------------------------------------------------

KERNEL_LENGTH = 0.1  # min_diff.losses.GaussianKernel's default, which MMDLoss("gaussian") uses
MINDIFF_SCORES = {"member": (0.40, 0.15), "rest": (0.30, 0.15)}  # (mean, sd) of the scores
MEMBER_SHARE = 0.4


def _gaussian_kernel_mean(mean_gap: float, variance: float) -> float:
    """E exp(−D²/ℓ²) for D ~ N(mean_gap, variance)."""
    spread = 1 + 2 * variance / KERNEL_LENGTH**2
    return float(np.exp(-(mean_gap**2) / (KERNEL_LENGTH**2 * spread)) / np.sqrt(spread))


def mindiff_truths() -> dict[str, float]:
    (m1, s1), (m0, s0) = MINDIFF_SCORES["member"], MINDIFF_SCORES["rest"]
    mmd = (
        _gaussian_kernel_mean(0.0, 2 * s1**2)
        + _gaussian_kernel_mean(0.0, 2 * s0**2)
        - 2 * _gaussian_kernel_mean(m1 - m0, s1**2 + s0**2)
    )
    q = MEMBER_SHARE
    within = q * s1**2 + (1 - q) * s0**2
    correlation = (m1 - m0) * np.sqrt(q * (1 - q)) / np.sqrt(within + q * (1 - q) * (m1 - m0) ** 2)
    return {"mmd": mmd, "absolute_correlation": float(abs(correlation))}


def mindiff(
    draws: int, rows: int = 200, n_resamples: int = 50, seed: int = 0
) -> dict[str, Coverage]:
    """The mindiff check's bootstrap CIs (TensorFlow; each resample is a TF call, so few)."""
    import pandas as pd

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from checks.mindiff import MinDiffCheck
    from validate.check import CheckContext

    tally = _Tally(mindiff_truths())
    check = MinDiffCheck.from_config(
        "mindiff",
        {"sensitive_feature": "group", "sensitive_group": "m", "within": "all",
         "n_resamples": n_resamples},
        task="binary",
    )  # fmt: skip
    members = int(round(MEMBER_SHARE * rows))
    rng = np.random.default_rng([seed, 8])
    for draw in range(draws):
        (m1, s1), (m0, s0) = MINDIFF_SCORES["member"], MINDIFF_SCORES["rest"]
        scores = np.concatenate([rng.normal(m1, s1, members), rng.normal(m0, s0, rows - members)])
        group = np.array(["m"] * members + ["r"] * (rows - members))
        context = CheckContext(
            task="binary", target="y", features=(), eval_data=pd.DataFrame({"group": group}),
            y_true=np.zeros(rows, dtype=np.int64), candidate_scores=scores, seed=draw,
        )  # fmt: skip
        found = check.run(context).details["ci"]
        for name in ("mmd", "absolute_correlation"):
            tally.add(name, *found[name])
    return tally.result(rows, prefix="mindiff ")


def table(draws: int, mindiff_draws: int, seed: int = 0) -> Iterator[Coverage]:
    """Every family, at ``draws`` draws (the bootstrap-heavy ones at a fifth, MinDiff at
    ``mindiff_draws``), in the order of the README's table, each as soon as it is done."""
    few = max(draws // 5, 1)

    def edge() -> dict[str, Coverage]:
        found = fairness(few, seed=seed, rates=EQUAL_ODDS)
        return {
            k: replace(v, family=f"{v.family} (true gap 0)")
            for k, v in found.items()
            if k == "equalized_odds_difference"
        }

    parts: list[Callable[[], dict[str, Coverage]]] = [
        lambda: binary_single(draws, seed=seed),
        lambda: binary_paired(draws, seed=seed),
        lambda: paired_average_precision(few, seed=seed),
        lambda: regression(draws, seed=seed),
        lambda: subsample_r2(few, seed=seed),
        lambda: fairness(draws, seed=seed),
        edge,
        lambda: latency(draws, seed=seed),
    ]
    if mindiff_draws:
        parts.append(lambda: mindiff(mindiff_draws, seed=seed))
    for part in parts:
        yield from part().values()
