"""How often does a champion/candidate gate get the verdict right? And the drift check?

    python benchmarks/verdict_quality.py [--pairs 1000] [--rows 20000] [--delta 0.015]
    python benchmarks/verdict_quality.py --drift [--sizes 300 2000 ...] [--runs 200 ...]
    python benchmarks/verdict_quality.py --coverage [--draws 1000] [--mindiff-draws 200]

Each simulated pair scores the same eval rows (binormal model: negatives'
latent score ~ N(0, 1), positives' ~ N(mu, 1), so AUC = Phi(mu / sqrt 2); the
two models share most of their noise, as a retrained model shares its champion's
errors). Scenarios: equal quality; candidate worse by exactly delta (the
non-inferiority margin: the guarantee scenario); worse by 2 delta; better by delta.

Gates compared, all on ROC AUC:
* validate: ``vs_baseline: {roc_auc: {max_drop: delta}}``: pass when the lower end of
  the 95% paired DeLong CI of (candidate - champion) is above -delta;
* point, zero margin (TFX/MLflow style "candidate >= champion"): pass when the
  point difference >= 0;
* point, margin delta: pass when the point difference >= -delta.

Drift (``--drift``): a family of seven numeric columns of assorted shapes (normal,
lognormal, exponential, t with 5 df, uniform, Poisson counts, a two-normal mixture);
each run draws a fresh reference and eval of the same size (as random re-splits of
one large population would) and runs the drift check with its defaults. Scenarios:
* unchanged: every column from the same distribution; "flagged" = any of the seven;
* shifted: the normal column's eval mean moves 0.3 SD (caught?) and the t5 column's
  0.1 SD, which is exactly the 0.1 cut-off in normalised Wasserstein (a location
  shift by d has Wasserstein-1 distance d), the edge of what the bound guarantees.
Coverage (``--coverage``): how often each family of 95% intervals holds the true value
on simulated data with known truths (``benchmarks/coverage.py``); the README's "How well
the intervals cover" table comes from here.

Each verdict is given for validate's rule (lower confidence bound > cut-off,
Bonferroni over the seven) and for the old rule (point estimate > cut-off), from the
same runs, with the median margin (estimate − lower bound) of the shifted column.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from validate.stats.auc import delong
from validate.stats.intervals import z_value

CHAMPION_AUC = 0.80
SHARED_NOISE = 0.9


def mu_for(auc: float) -> float:
    return float(np.sqrt(2) * stats.norm.ppf(auc))


def simulate_pair(rng: np.random.Generator, rows: int, true_difference: float):
    y = (rng.random(rows) < 0.3).astype(np.int64)
    shared, own_a, own_b = rng.normal(size=(3, rows))
    champion = (
        mu_for(CHAMPION_AUC) * y
        + np.sqrt(SHARED_NOISE) * shared
        + np.sqrt(1 - SHARED_NOISE) * own_a
    )
    candidate = (
        mu_for(CHAMPION_AUC + true_difference) * y
        + np.sqrt(SHARED_NOISE) * shared
        + np.sqrt(1 - SHARED_NOISE) * own_b
    )
    return y, candidate, champion


DRIFT_SIZES = (300, 2_000, 20_000, 200_000, 2_000_000)
DRIFT_RUNS = (200, 200, 200, 50, 20)


def drift_family(rng: np.random.Generator, rows: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """Seven numeric columns and each one's population standard deviation."""
    columns = {
        "normal": (rng.normal(size=rows), 1.0),
        "lognormal": (rng.lognormal(0, 0.6, rows), np.sqrt((np.exp(0.36) - 1) * np.exp(0.36))),
        "exponential": (rng.exponential(size=rows), 1.0),
        "t5": (rng.standard_t(5, rows), np.sqrt(5 / 3)),
        "uniform": (rng.random(rows), np.sqrt(1 / 12)),
        "poisson": (rng.poisson(4, rows).astype(float), 2.0),
        "bimodal": (rng.normal(0, 1, rows) + 3 * (rng.random(rows) < 0.5), np.sqrt(3.25)),
    }
    frame = pd.DataFrame({name: values for name, (values, _) in columns.items()})
    return frame, {name: sd for name, (_, sd) in columns.items()}


def drift_runs(rows: int, runs: int, shifted: bool, seed: int) -> dict[str, float]:
    from checks.drift import DriftCheck
    from validate.check import CheckContext

    check = DriftCheck.from_config("drift", {"histograms": False}, task="binary")
    rng = np.random.default_rng([seed, rows, shifted])
    tally = {"new": 0, "old": 0, "caught": 0, "caught_old": 0, "edge": 0, "edge_old": 0}
    margins = []
    for run in range(runs):
        reference, _ = drift_family(rng, rows)
        current, sds = drift_family(rng, rows)
        if shifted:
            current["normal"] += 0.3 * sds["normal"]
            current["t5"] += 0.1 * sds["t5"]
        context = CheckContext(
            task="binary",
            target="label",
            features=tuple(current.columns),
            eval_data=current,
            reference_data=reference,
            y_true=np.zeros(rows, dtype=np.int64),
            candidate_scores=np.zeros(rows),
            seed=run,
        )
        features = {f["column"]: f for f in check.run(context).details["features"]}
        unchanged = [f for c, f in features.items() if not shifted or c not in ("normal", "t5")]
        tally["new"] += any(f["drifted"] for f in unchanged)
        tally["old"] += any(f["value"] > f["threshold"] for f in unchanged)
        if shifted:
            for key, column in (("caught", "normal"), ("edge", "t5")):
                tally[key] += features[column]["drifted"]
                tally[f"{key}_old"] += features[column]["value"] > features[column]["threshold"]
            margins.append(features["normal"]["value"] - features["normal"]["lower_bound"])
    result = {key: 100 * count / runs for key, count in tally.items()}
    result["margin"] = float(np.median(margins)) if margins else float("nan")
    return result


def drift_main(sizes: list[int], runs: list[int], seed: int) -> None:
    print(
        "Drift check on 7 numeric columns (default settings: normalised Wasserstein, cut-off "
        "0.1, lower bound at 95% simultaneous over the 7); validate's rule, the old point rule "
        "in brackets"
    )
    print(
        f"{'eval rows':>10} {'runs':>5} {'unchanged: any of 7 flagged':>28} "
        f"{'0.3 SD shift caught':>20} {'0.1 SD (at cut-off) flagged':>28} "
        f"{'margin':>7} {'s/run':>6}"
    )
    for rows, count in zip(sizes, runs, strict=True):
        started = time.perf_counter()
        null = drift_runs(rows, count, shifted=False, seed=seed)
        moved = drift_runs(rows, count, shifted=True, seed=seed)
        per_run = (time.perf_counter() - started) / (2 * count)
        pair = lambda new, old: f"{new:5.1f}% ({old:5.1f}%)"  # noqa: E731
        print(
            f"{rows:>10,} {count:>5} {pair(null['new'], null['old']):>28} "
            f"{pair(moved['caught'], moved['caught_old']):>20} "
            f"{pair(moved['edge'], moved['edge_old']):>28} {moved['margin']:>7.4f} "
            f"{per_run:>6.2f}",
            flush=True,
        )
    print(
        "margin: median (estimate − lower bound) of the shifted column, the noise allowance "
        "that shrinks as 1/sqrt(rows). The targets: unchanged data flagged at most 5% a "
        "family; a column exactly at the cut-off flagged about 5%/7 = 0.7% (bootstrap: "
        "approximate)."
    )


def coverage_main(draws: int, mindiff_draws: int, seed: int) -> None:
    import coverage

    started = time.perf_counter()
    print(
        f"Coverage of validate's 95% intervals ({draws} draws a family; bootstrap-heavy "
        f"families {max(draws // 5, 1)}, MinDiff {mindiff_draws}); below/above: share of draws "
        "whose interval lay wholly above/below the truth"
    )
    print(coverage.HEADER)
    for row in coverage.table(draws, mindiff_draws, seed=seed):
        print(row.row(), flush=True)
    print(f"{time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--delta", type=float, default=0.015)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drift", action="store_true", help="the drift simulation instead")
    parser.add_argument("--coverage", action="store_true", help="the interval coverage table")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--mindiff-draws", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DRIFT_SIZES))
    parser.add_argument("--runs", type=int, nargs="+", default=list(DRIFT_RUNS))
    args = parser.parse_args()
    if args.coverage:
        coverage_main(args.draws, args.mindiff_draws, args.seed)
        return
    if args.drift:
        if len(args.runs) == 1:
            args.runs = args.runs * len(args.sizes)
        drift_main(args.sizes, args.runs, args.seed)
        return
    delta, z = args.delta, z_value(0.95)
    scenarios = [
        ("equal quality", 0.0),
        ("worse by delta", -delta),
        ("worse by 2 delta", -2 * delta),
        ("better by delta", delta),
    ]
    rng = np.random.default_rng(args.seed)
    print(
        f"{args.pairs} pairs a scenario, {args.rows:,} eval rows, delta {delta} ROC AUC, "
        f"champion AUC {CHAMPION_AUC}"
    )
    print(f"{'scenario':<18} {'validate pass':>14} {'point>=0 pass':>14} {'point>=-d pass':>15}")
    for name, true_difference in scenarios:
        ours = zero = margin = 0
        for _ in range(args.pairs):
            y, candidate, champion = simulate_pair(rng, args.rows, true_difference)
            difference, variance = delong(y, candidate, champion).difference()
            ours += difference - z * np.sqrt(variance) > -delta
            zero += difference >= 0
            margin += difference >= -delta
        share = lambda k: f"{100 * k / args.pairs:6.1f}%"  # noqa: E731
        print(f"{name:<18} {share(ours):>14} {share(zero):>14} {share(margin):>15}")
    print(
        "Block rate = 100% - pass rate. The guarantee: 'worse by delta' passes at most 2.5% "
        "(one side of a 95% CI)."
    )


if __name__ == "__main__":
    main()
