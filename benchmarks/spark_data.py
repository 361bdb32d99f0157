"""Generate a scored, partitioned parquet data set for the Spark engine (issue 19).

    python benchmarks/spark_data.py ROWS OUT_DIR [--files N] [--seed S] [--shift X]

Writes ``OUT_DIR/eval/part-*.parquet`` (ROWS rows) and ``OUT_DIR/reference/part-*.parquet``
(ROWS rows): a binary label ``default``, candidate and champion scores (``score``,
``champion_score``), two sensitive features (``sex``, ``age_group``; the candidate is
slightly biased against one group), 20 numeric features ``x00``…``x19`` and one
categorical ``region``. In eval, ``x00``…``x03`` drift (shifts of 0.5, 0.2, 0.05 and 0
standard deviations) and ``region`` changes its mix: a data set with clear drift, clear
non-drift, and columns in between. Written a chunk (one file) at a time, so memory stays
bounded whatever ROWS is. Each file's rows depend only on its number (and the seed), so
with the default 500k-row files the first N/500k files of a larger set are the N-row set
(``benchmarks/spark.py --local-rows`` samples this way).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

NUMERIC = tuple(f"x{i:02d}" for i in range(20))
SHIFTS = {"x00": 0.5, "x01": 0.2, "x02": 0.05}  # eval shift, in standard deviations
REGIONS = np.array(["north", "south", "east", "west"])


def chunk(rows: int, seed: int, *, eval_set: bool, shift: float = 1.0) -> object:
    """One chunk of the data set as a pandas DataFrame."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for index, name in enumerate(NUMERIC):
        scale = 1.0 + index / 10
        moved = SHIFTS.get(name, 0.0) * shift if eval_set else 0.0
        columns[name] = rng.normal(moved * scale, scale, rows)
    sex = rng.choice(np.array(["female", "male"]), rows)
    age = rng.choice(np.array(["18-30", "31-50", "51+"]), rows, p=[0.3, 0.5, 0.2])
    mix = [0.25, 0.25, 0.25, 0.25] if not eval_set else [0.4, 0.2, 0.2, 0.2]
    region = rng.choice(REGIONS, rows, p=mix)
    signal = columns["x04"] * 0.8 + columns["x05"] * 0.5
    label = (signal + rng.normal(0, 1, rows) > 0.3).astype(np.int8)
    bias = np.where(sex == "female", -0.25, 0.0)
    score = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.6, rows) + bias)))
    champion = 1 / (1 + np.exp(-(signal * 0.9 + rng.normal(0, 0.7, rows))))
    frame = pd.DataFrame(
        {
            "default": label,
            "score": score,
            "champion_score": champion,
            "sex": sex,
            "age_group": age,
            "region": region,
            **columns,
        }
    )
    return frame


def generate(
    rows: int, out: Path, *, files: int = 8, seed: int = 0, shift: float = 1.0
) -> dict[str, Path]:
    """Write the eval and reference folders; returns their paths."""
    folders = {}
    for offset, name in enumerate(("reference", "eval")):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        sizes = np.full(files, rows // files)
        sizes[: rows % files] += 1
        for part, size in enumerate(sizes):
            frame = chunk(
                int(size),
                seed * 1_000_003 + offset * 10_007 + part,
                eval_set=name == "eval",
                shift=shift,
            )
            frame.to_parquet(folder / f"part-{part:05d}.parquet", index=False)  # type: ignore[attr-defined]
        folders[name] = folder
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--files", type=int, default=0, help="default: one per 500k rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shift", type=float, default=1.0, help="scale of the eval shifts")
    args = parser.parse_args()
    files = args.files or max(2, -(-args.rows // 500_000))
    generate(args.rows, args.out, files=files, seed=args.seed, shift=args.shift)
    print(f"wrote {args.rows:,} rows each to {args.out / 'reference'} and {args.out / 'eval'}")


if __name__ == "__main__":
    main()
