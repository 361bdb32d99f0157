"""PNG plots recorded as MLflow artifacts (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def group_bar_chart(
    path: Path,
    *,
    title: str,
    groups: Sequence[str],
    values: Mapping[str, Sequence[float]],
    intervals: Mapping[str, Sequence[tuple[float, float]]],
) -> Path:
    """Grouped bars (one colour per metric) with CI whiskers, one cluster per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(values)
    x = np.arange(len(groups))
    width = 0.8 / max(len(metrics), 1)
    figure, axes = plt.subplots(figsize=(max(6, 1.2 * len(groups) + 2), 4), dpi=100)
    for index, metric in enumerate(metrics):
        heights = np.asarray(values[metric], dtype=float)
        bounds = np.asarray(intervals.get(metric, [(h, h) for h in heights]), dtype=float)
        errors = np.abs(np.stack([heights - bounds[:, 0], bounds[:, 1] - heights]))
        axes.bar(
            x + (index - (len(metrics) - 1) / 2) * width,
            heights,
            width,
            yerr=errors,
            capsize=3,
            label=metric,
        )
    axes.set_xticks(x, groups, rotation=20, ha="right")
    axes.set_ylim(0, 1.05)
    axes.set_title(title)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
