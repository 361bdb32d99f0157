"""How often does a champion/candidate gate get the verdict right?

    python benchmarks/verdict_quality.py [--pairs 1000] [--rows 20000] [--delta 0.015]

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
"""

from __future__ import annotations

import argparse

import numpy as np
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--delta", type=float, default=0.015)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
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
