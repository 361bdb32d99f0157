"""Train the churn model on synthetic data; write artifacts/ (train, eval, model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
FEATURES = ["tenure_months", "monthly_charges", "support_calls"]


def make(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "tenure_months": rng.integers(1, 72, n),
            "monthly_charges": rng.normal(70, 20, n).round(2),
            "support_calls": rng.poisson(1.5, n),
            "region": rng.choice(["north", "south", "east", "west"], n),
        }
    )
    logit = (
        -1.0
        - 0.04 * frame["tenure_months"]
        + 0.02 * frame["monthly_charges"]
        + 0.4 * frame["support_calls"]
    )
    frame["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def main(out: Path = HERE / "artifacts") -> None:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(11)
    out.mkdir(parents=True, exist_ok=True)
    train, evaluation = make(rng, 8000), make(rng, 3000)
    train.to_parquet(out / "train.parquet", index=False)
    evaluation.to_parquet(out / "eval.parquet", index=False)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[FEATURES], train["churned"])
    shutil.rmtree(out / "model", ignore_errors=True)
    mlflow.sklearn.save_model(model, str(out / "model"))
    print(f"model and data written to {out}")


if __name__ == "__main__":
    main()
