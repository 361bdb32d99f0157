"""Build the credit sample: synthetic data, a scikit-learn champion, two Keras candidates.

    python sample_models/credit/build.py [--out DIR] [--rows N] [--no-register]

The data have a planted bias: in the *training* labels a share of women who repaid
are recorded as defaults (a biased historical process); the eval labels are the
true outcomes, and the eval split has some drift (higher incomes, older
applicants). The "good" candidate sees only financial features; the "biased"
candidate also sees ``sex_code`` and learns the historical bias, which costs it
accuracy on the true outcomes. The champion (logistic regression) is registered
in MLflow as ``credit`` with alias ``champion``.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
FINANCIAL = ["income", "debt_ratio", "age", "credit_history_years", "late_payments", "loan_amount"]
SEED = 7


def make_applicants(rng: np.random.Generator, n: int, *, drift: float) -> pd.DataFrame:
    """Applicants and their true default outcome; ``drift`` shifts income and age upwards."""
    sex = rng.choice(["F", "M"], size=n)
    age = np.clip(rng.normal(42 + 4 * drift, 12, n), 21, 80).round()
    income = rng.lognormal(np.log(42_000) + 0.1 * drift, 0.45, n).round(-2)
    debt_ratio = rng.beta(2.2, 5.0, n).round(4)
    history = np.clip(age - 21 - rng.exponential(4, n), 0, None).round(1)
    late = rng.poisson(0.4 + 1.6 * debt_ratio, n)
    loan = (income * rng.uniform(0.1, 0.6, n)).round(-2)
    logit = (
        -1.2
        - 1.1 * (np.log(income) - np.log(42_000)) / 0.45
        + 4.0 * (debt_ratio - 0.3)
        + 0.55 * late
        - 0.03 * history
        + 0.8 * (loan / income - 0.35)
    )
    default = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "income": income,
            "debt_ratio": debt_ratio,
            "age": age,
            "credit_history_years": history,
            "late_payments": late,
            "loan_amount": loan,
            "sex": sex,
            "sex_code": (sex == "F").astype(np.int64),
        }
    )
    frame["age_group"] = pd.cut(
        frame["age"], [0, 30, 50, 200], labels=["<30", "30-50", "50+"], right=False
    ).astype(str)
    frame["default"] = default.astype(np.int64)
    return frame


def plant_historical_bias(
    rng: np.random.Generator, frame: pd.DataFrame, share: float
) -> pd.DataFrame:
    """Record ``share`` of women who repaid as defaults (the biased historical labels)."""
    biased = frame.copy()
    flip = (biased["sex"] == "F") & (biased["default"] == 0) & (rng.random(len(biased)) < share)
    biased.loc[flip, "default"] = 1
    return biased


def train_champion(train: pd.DataFrame):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return model.fit(train[FINANCIAL], train["default"])


def quiet_tensorflow() -> None:
    """Keep TensorFlow's native chatter out of the build's output: no GPU here is not an
    error (``E0000 … cuInit``), nor is tf.data's ``NodeDef mentions attribute`` notice.
    Level 3 drops TensorFlow's C++ errors too, which is why only this script sets it; the
    start-up lines absl prints before its logger exists ignore the level, so the import is
    done with stderr held back. ``VALIDATE_TF_VERBOSE=1`` shows everything."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if os.environ.get("VALIDATE_TF_VERBOSE") == "1":
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from validate.models.keras_models import quiet_native_stderr

    with quiet_native_stderr():
        import tensorflow  # noqa: F401
        import tf_keras  # noqa: F401


def train_keras(train: pd.DataFrame, features: list[str], path: Path, *, seed: int) -> None:
    quiet_tensorflow()
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    x = train[features].to_numpy(np.float32)
    y = train["default"].to_numpy(np.float32)
    normalise = tf_keras.layers.Normalization()
    normalise.adapt(x)
    model = tf_keras.Sequential(
        [
            tf_keras.Input(shape=(len(features),)),
            normalise,
            tf_keras.layers.Dense(16, activation="relu"),
            tf_keras.layers.Dense(8, activation="relu"),
            tf_keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=tf_keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    model.fit(x, y, epochs=8, batch_size=256, verbose=0, shuffle=True)
    model.save(path)


def register_champion(champion, *, model_name: str = "credit", alias: str = "champion") -> str:
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    mlflow.set_experiment("credit-sample-build")
    with mlflow.start_run(run_name="train champion"):
        info = mlflow.sklearn.log_model(champion, name="champion")
    version = mlflow.register_model(info.model_uri, model_name).version
    MlflowClient().set_registered_model_alias(model_name, alias, version)
    return str(version)


def build(out: Path, *, rows: int = 20_000, register: bool = True) -> dict[str, str]:
    """Write data and models under ``out``; return what was made."""
    rng = np.random.default_rng(SEED)
    out.mkdir(parents=True, exist_ok=True)
    train = plant_historical_bias(rng, make_applicants(rng, rows, drift=0.0), share=0.35)
    evaluation = make_applicants(rng, max(rows // 4, 200), drift=1.0)
    train.to_parquet(out / "train.parquet", index=False)
    evaluation.to_parquet(out / "eval.parquet", index=False)
    champion = train_champion(train)
    import mlflow.sklearn

    champion_dir = out / "champion"
    shutil.rmtree(champion_dir, ignore_errors=True)
    mlflow.sklearn.save_model(champion, str(champion_dir))
    train_keras(train, FINANCIAL, out / "candidate_good.keras", seed=SEED)
    train_keras(train, [*FINANCIAL, "sex_code"], out / "candidate_biased.keras", seed=SEED)
    made = {"data": str(out), "champion_dir": str(champion_dir)}
    if register:
        made["champion_version"] = register_champion(champion)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "artifacts")
    parser.add_argument("--rows", type=int, default=20_000, help="training rows (eval: rows/4)")
    parser.add_argument(
        "--no-register", action="store_true", help="do not register the champion in MLflow"
    )
    args = parser.parse_args()
    made = build(args.out, rows=args.rows, register=not args.no_register)
    for key, value in made.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
