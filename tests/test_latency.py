"""Latency: statistics equal NumPy's on recorded timings, calls interleave A B A B, the
device rules (skipped / error without a GPU) hold, and the report carries its fields.

No test here asserts what machine load can change (issue 13, item 19): where a figure is
compared with a limit or another figure, the check runs on a virtual clock (``CLOCK``)
that advances only by the pauses the test models declare, so every timing is exact."""

from __future__ import annotations

import csv
import functools
import json
import time
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
import yaml
from conftest import FEATURES, base_config, make_frame, run_cli

from checks.latency import LatencyCheck, choose_placement
from validate.check import CheckContext
from validate.errors import ConfigError
from validate.executors.local import run_one
from validate.models.adapter import resolve_model
from validate.registry import SelectedCheck
from validate.results import Status
from validate.stats import latency as ls
from validate.timing import Budget, TimedCallFailed, measure_interleaved


class VirtualClock:
    """A nanosecond clock for ``measure_interleaved`` that load cannot move.

    While active, a ``SleepyModel`` pause advances it instead of sleeping, so each timed
    call measures exactly its declared pause; ``tick_ns`` adds a fixed cost per read, for
    models that do not pause (each such call then measures exactly ``tick_ns``).
    """

    def __init__(self) -> None:
        self.active = False
        self.now = 0
        self.tick_ns = 0

    def __call__(self) -> int:
        self.now += self.tick_ns
        return self.now

    def pause(self, ms: float) -> None:
        if self.active:
            self.now += round(ms * 1e6)
        else:
            time.sleep(ms / 1000)


CLOCK = VirtualClock()


@pytest.fixture
def virtual_time(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    """The latency check times on ``CLOCK`` for this test."""
    import checks.latency

    monkeypatch.setattr(CLOCK, "active", True)
    monkeypatch.setattr(CLOCK, "now", 0)
    monkeypatch.setattr(CLOCK, "tick_ns", 0)
    monkeypatch.setattr(
        checks.latency, "measure_interleaved", functools.partial(measure_interleaved, clock=CLOCK)
    )
    return CLOCK


class SleepyModel(mlflow.pyfunc.PythonModel):
    """Scores after a pause: ``slow_share`` of calls take ``slow_ms``, the rest ``fast_ms``;
    it refuses batches smaller than ``min_rows`` (a model that fails on a batch)."""

    def __init__(self, fast_ms=0.2, slow_ms=0.2, slow_share=0.0, min_rows=1):
        self.fast_ms, self.slow_ms, self.slow_share, self.min_rows = (
            fast_ms,
            slow_ms,
            slow_share,
            min_rows,
        )
        self.calls = 0

    def predict(self, context, model_input, params=None):
        if len(model_input) < self.min_rows:
            raise ValueError(f"needs at least {self.min_rows} rows, got {len(model_input)}")
        self.calls += 1
        # Every 10th call of a run is slow when slow_share is 0.1 (deterministic noise).
        slow = self.slow_share and self.calls % round(1 / self.slow_share) == 0
        CLOCK.pause(self.slow_ms if slow else self.fast_ms)
        return np.full(len(model_input), 0.5)


def save_sleepy(folder: Path, **kwargs) -> str:
    mlflow.pyfunc.save_model(path=str(folder), python_model=SleepyModel(**kwargs))
    return str(folder)


def latency_context(candidate: str | None, baseline: str | None = None, n: int = 300, tmp=None):
    frame = make_frame(n)
    refs = {
        role: resolve_model(location, role=role, task="binary")
        for role, location in (("candidate", candidate), ("baseline", baseline))
        if location
    }
    return CheckContext(
        task="binary",
        target="label",
        features=tuple(FEATURES),
        eval_data=frame,
        y_true=frame["label"].to_numpy(),
        candidate_scores=frame["score"].to_numpy(),
        candidate=refs.get("candidate"),
        baseline=refs.get("baseline"),
        artifact_dir=str(tmp) if tmp else None,
    )


def make(settings=None) -> LatencyCheck:
    defaults = {"warmup": 2, "iterations": 30, "n_resamples": 200}
    return LatencyCheck.from_config("latency", {**defaults, **(settings or {})}, task="binary")


# --- statistics ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [1, 7, 250])
def test_summary_equals_numpy_on_recorded_timings(seed, n):
    rng = np.random.default_rng(seed)
    timings = rng.lognormal(mean=13, sigma=0.4, size=n).astype(np.int64)  # ~0.4 ms
    summary = ls.summarize(timings, batch_size=64)
    ms = timings / 1e6
    for q, value in zip(
        (50, 95, 99), (summary.p50_ms, summary.p95_ms, summary.p99_ms), strict=True
    ):
        assert value == pytest.approx(np.percentile(ms, q), rel=1e-12)
    assert summary.mean_ms == pytest.approx(ms.mean(), rel=1e-12)
    expected_std = ms.std(ddof=1) if n > 1 else 0.0
    assert summary.std_ms == pytest.approx(expected_std, rel=1e-12, abs=1e-15)
    assert summary.cv == pytest.approx(expected_std / ms.mean(), rel=1e-12, abs=1e-15)
    assert summary.throughput_rps == pytest.approx(64 * n / ms.sum() * 1000, rel=1e-9)
    assert summary.iterations == n


def _exact_bootstrap_cdf(n: int, j: int, k: int) -> float:
    """P(order statistic j of a size-n row resample <= x_(k)) for n distinct values (both
    0-based): the resample has at least j + 1 values <= x_(k), each drawn with chance
    (k + 1)/n, so it is P(Binomial(n, (k + 1)/n) >= j + 1) (Efron 1982, ch. 10.2 for the
    median). No resampling: the bootstrap distribution the check estimates, exactly."""
    from scipy import stats

    return float(stats.binom.sf(j, n, (k + 1) / n))


@pytest.mark.parametrize("block_elements", [None, 101 * 7])
def test_bootstrap_percentile_intervals_match_the_exact_bootstrap_distribution(
    block_elements, monkeypatch
):
    """On 101 distinct timings NumPy's p50, p95 and p99 are order statistics 50, 95 and 99
    (no interpolation), whose bootstrap distribution is binomial. Each CI end must sit where
    that exact distribution puts its 5% and 95% quantiles, to within the Monte Carlo error of
    4,000 resamples; and the mean's CI must be the CLT interval mean ± z·s/√n. Independent of
    how the resamples are drawn (the block_elements case draws them 7 at a time)."""
    from scipy import stats

    if block_elements is not None:
        monkeypatch.setattr(ls, "_BLOCK_ELEMENTS", block_elements)
    rng = np.random.default_rng(5)
    n, resamples = 101, 4000
    timings = rng.permutation(np.unique(rng.gamma(2.0, 2e5, size=3 * n).astype(np.int64))[:n])
    ms = np.sort(timings / 1e6)
    assert len(np.unique(ms)) == n
    got = ls.bootstrap_intervals(timings, 8, n_resamples=resamples, confidence=0.9, seed=11)
    # An empirical CDF of 4,000 draws is within 5 SDs (+ one draw) of the exact one.
    slack = 5 * np.sqrt(0.05 * 0.95 / resamples) + 1 / resamples
    for name, j in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99)):
        low, high = got[name]
        assert low <= np.percentile(ms, j) <= high, name
        for end, tail in ((low, 0.05), (high, 0.95)):
            k = int(np.searchsorted(ms, end, side="right")) - 1  # largest value <= the end
            assert _exact_bootstrap_cdf(n, j, k) >= tail - slack, (name, end, tail)
            assert _exact_bootstrap_cdf(n, j, k - 1) <= tail + slack, (name, end, tail)
    # Mean: the bootstrap variance of a mean is s²/n with s the ddof=0 SD; the 90% percentile
    # interval is within 0.15 SE of the normal one (skew and Monte Carlo error are ~0.05 SE).
    se = ms.std() / np.sqrt(n)
    z = stats.norm.ppf(0.95)
    assert got["mean_ms"] == pytest.approx((ms.mean() - z * se, ms.mean() + z * se), abs=0.15 * se)
    # Throughput is batch / mean: a decreasing map, so its CI is the mean's CI mapped, ends swapped.
    low, high = got["mean_ms"]
    assert got["throughput_rps"] == pytest.approx((8000 / high, 8000 / low), rel=1e-4)


def test_bootstrap_intervals_are_seeded():
    timings = np.random.default_rng(6).gamma(2.0, 2e5, size=120).astype(np.int64)
    first = ls.bootstrap_intervals(timings, 8, n_resamples=300, confidence=0.9, seed=11)
    assert ls.bootstrap_intervals(timings, 8, n_resamples=300, confidence=0.9, seed=11) == first
    other = ls.bootstrap_intervals(timings, 8, n_resamples=300, confidence=0.9, seed=12)
    assert other["mean_ms"] != first["mean_ms"]
    ratio = ls.paired_ratio(timings, timings[::-1], n_resamples=300, confidence=0.9, seed=11)
    assert ls.paired_ratio(timings, timings[::-1], n_resamples=300, confidence=0.9, seed=11) == (
        ratio
    )
    assert ls.paired_ratio(timings, timings[::-1], n_resamples=300, confidence=0.9, seed=12) != (
        ratio
    )


def test_paired_ratio_cancels_shared_drift():
    """Both models slow down together (drift): the paired CI stays narrow around the true
    ratio 1.5, while resampling the two series independently would smear it."""
    rng = np.random.default_rng(3)
    drift = np.linspace(1.0, 3.0, 400)  # the machine gets 3x slower during the run
    champion = (1e6 * drift * rng.lognormal(0, 0.05, 400)).astype(np.int64)
    candidate = (1.5e6 * drift * rng.lognormal(0, 0.05, 400)).astype(np.int64)
    ratio, (low, high) = ls.paired_ratio(
        candidate, champion, n_resamples=500, confidence=0.95, seed=0
    )
    assert ratio == pytest.approx(np.percentile(candidate, 95) / np.percentile(champion, 95))
    assert low <= ratio <= high
    assert low > 1.3 and high < 1.7
    rng2 = np.random.default_rng(0)
    unpaired = [
        np.percentile(candidate[rng2.integers(0, 400, 400)], 95)
        / np.percentile(champion[rng2.integers(0, 400, 400)], 95)
        for _ in range(500)
    ]
    unpaired_width = np.subtract(*np.percentile(unpaired, [97.5, 2.5]))
    assert high - low < unpaired_width


# --- the timing loop ----------------------------------------------------------------------


def test_calls_interleave_and_warmup_is_not_timed():
    order: list[str] = []
    calls = {"candidate": lambda: order.append("A"), "baseline": lambda: order.append("B")}
    timings = measure_interleaved(calls, Budget(warmup=3, iterations=5, max_seconds=60))
    assert "".join(order) == "AB" * 8  # 3 warm-up rounds, then 5 timed rounds
    assert [len(t) for t in timings.values()] == [5, 5]
    assert all(t.dtype == np.int64 and (t >= 0).all() for t in timings.values())


def test_time_budget_stops_after_the_floor():
    ticks = iter(range(0, 10**12, 10**9))  # every clock read advances one second
    timings = measure_interleaved(
        {"candidate": lambda: None},
        Budget(warmup=0, iterations=1000, max_seconds=5, min_iterations=8),
        clock=lambda: next(ticks),
    )
    assert len(timings["candidate"]) == 8  # the budget ran out at once; the floor held
    assert set(timings["candidate"].tolist()) == {10**9}  # stop read - start read


def test_a_raising_call_names_the_model():
    def broken():
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(TimedCallFailed, match="baseline: RuntimeError: CUDA out of memory"):
        measure_interleaved(
            {"candidate": lambda: None, "baseline": broken},
            Budget(warmup=1, iterations=3, max_seconds=5),
        )


# --- the check ----------------------------------------------------------------------------


def test_report_fields_and_timings_recompute(tmp_path, virtual_time):
    candidate = save_sleepy(tmp_path / "candidate", fast_ms=0.3)
    champion = save_sleepy(tmp_path / "champion", fast_ms=0.6)
    check = make({"batch_sizes": [1, 32], "thresholds": {"p95_ms": {"max": 500}}})
    artifacts = tmp_path / "artifacts"
    context = latency_context(candidate, champion, tmp=artifacts)
    result = run_one(
        SelectedCheck("latency", blocking=True, check=check, source="checks.latency"), context
    )
    assert result.status is Status.PASSED, result.message
    for size in (1, 32):
        for field in ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "std_ms", "cv", "throughput_rps"):
            assert np.isfinite(result.metrics[f"batch_{size}.{field}"])
        # 0.3 ms vs 0.6 ms on the virtual clock: exact, whatever the load.
        assert result.metrics[f"batch_{size}.p95_ms"] == pytest.approx(0.3)
        assert result.metrics[f"batch_{size}.p95_ratio_vs_baseline"] == pytest.approx(0.5)
        entry = result.details["batches"][str(size)]
        assert entry["iterations"] == 30
        assert set(entry) == {"candidate", "baseline", "iterations", "p95_ratio_vs_baseline"}
    assert result.details["order"] == ["candidate", "baseline"]
    device = result.details["device"]
    assert device["placement"] == "cpu"
    assert device["cpu"] and device["cpu_count"] >= 1 and "mlflow" in device["frameworks"]
    assert device["models"]["candidate"] == "placed by the model (MLflow pyfunc)"
    assert [a.metric for a in result.assertions] == ["batch_1.p95_ms", "batch_32.p95_ms"]

    # Every figure can be recomputed from the recorded timings with NumPy.
    with open(artifacts / "latency" / "latency_timings.csv") as handle:
        rows = list(csv.DictReader(handle))
    for size in (1, 32):
        for role in ("candidate", "baseline"):
            picked = [r for r in rows if r["batch_size"] == str(size) and r["model"] == role]
            assert [int(r["iteration"]) for r in picked] == list(range(30))
            ms = np.array([int(r["nanoseconds"]) for r in picked]) / 1e6
            p95 = result.details["batches"][str(size)][role]["p95_ms"]
            assert p95 == pytest.approx(np.percentile(ms, 95), rel=1e-12)
        by_role = {
            role: [int(r["nanoseconds"]) for r in rows if (r["batch_size"], r["model"]) == key]
            for role, key in ((m, (str(size), m)) for m in ("candidate", "baseline"))
        }
        assert result.metrics[f"batch_{size}.p95_ratio_vs_baseline"] == pytest.approx(
            np.percentile(by_role["candidate"], 95) / np.percentile(by_role["baseline"], 95),
            rel=1e-12,
        )
    json.dumps(result.to_dict(), allow_nan=False)  # the report stays plain JSON


def test_slower_candidate_fails_the_ratio(tmp_path, virtual_time):
    candidate = save_sleepy(tmp_path / "candidate", fast_ms=3.0)
    champion = save_sleepy(tmp_path / "champion", fast_ms=1.0)
    check = make({"batch_sizes": [1], "max_ratio_vs_baseline": 1.5, "ratio_judge": "upper_ci"})
    result = check.run(latency_context(candidate, champion))
    assert result.status is Status.FAILED
    (assertion,) = result.assertions
    assert assertion.metric == "batch_1.p95_ratio_vs_baseline" and not assertion.passed
    assert assertion.value == pytest.approx(3.0)  # 3 ms / 1 ms on the virtual clock
    assert "judged on the upper CI" in assertion.sentence


def test_noisy_measurement_warns_instead_of_judging(tmp_path, virtual_time):
    # One call in ten takes 30 ms, the rest 0.2 ms: p95 sits on the jump, its CI spans
    # [0.2, 30] and a 10 ms limit would be decided by which calls happened to be slow.
    noisy = save_sleepy(tmp_path / "noisy", fast_ms=0.2, slow_ms=30, slow_share=0.1)
    settings = {"batch_sizes": [1], "iterations": 40, "thresholds": {"p95_ms": {"max": 10}}}
    result = make(settings).run(latency_context(noisy))
    assert result.status is Status.PASSED and result.assertions == ()
    (warning,) = result.warnings
    assert warning.startswith("batch_1.p95_ms <= 10 not judged, too noisy: CV ")
    assert "(1 warning)" in result.message
    strict = make({**settings, "when_noisy": "error"}).run(latency_context(noisy))
    assert strict.status is Status.ERROR and "too noisy" in strict.message
    # A limit far outside the interval is still judged: noise cannot change that verdict.
    clear = make({**settings, "thresholds": {"p95_ms": {"max": 1000}}}).run(latency_context(noisy))
    assert clear.status is Status.PASSED and len(clear.assertions) == 1


def test_a_model_failing_on_a_batch_is_an_error_with_its_message(tmp_path):
    picky = save_sleepy(tmp_path / "picky", min_rows=2)
    result = make({"batch_sizes": [8, 1]}).run(latency_context(picky))
    assert result.status is Status.ERROR
    assert "failed on a batch of 1 rows" in result.message
    assert "needs at least 2 rows, got 1" in result.message


def test_precomputed_candidate_is_skipped():
    context = latency_context(None, n=50)  # scores only, no model
    result = make().run(context)
    assert result.status is Status.SKIPPED and "precomputed" in result.message


def test_gpu_without_a_gpu_is_skipped_or_an_error(tmp_path):
    model = save_sleepy(tmp_path / "m")
    context = latency_context(model)
    if not isinstance(choose_placement("gpu", [context.candidate]), str):
        pytest.skip("this machine has a GPU: the no-GPU rules cannot be shown here")
    skipped = make({"device": "gpu"}).run(context)
    assert skipped.status is Status.SKIPPED
    assert skipped.message.startswith("device: gpu, but no NVIDIA driver or GPU found")
    required = make({"device": "gpu", "require_gpu": True}).run(context)
    assert required.status is Status.ERROR and required.message == skipped.message
    auto = make({"device": "auto", "iterations": 3}).run(context)
    assert auto.status is Status.PASSED and auto.details["device"]["placement"] == "cpu"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"iterations": 0}, "checks.latency.iterations: 0 timed iterations measure nothing"),
        ({"batch_sizes": []}, "checks.latency.batch_sizes: give at least one batch size"),
        ({"batch_sizes": [1, 1]}, "checks.latency.batch_sizes: a batch size is listed twice"),
        ({"thresholds": {"p90_ms": {"max": 1}}}, "unknown metric 'p90_ms'; valid: p50_ms"),
        ({"thresholds": {"batch_8.p95_ms": {"max": 1}}}, "batch size 8 is not in batch_sizes"),
        ({"require_gpu": True}, "checks.latency.require_gpu: only applies to device: gpu"),
        ({"max_ratio_vs_baseline": 1.2, "compare_baseline": False}, "needs compare_baseline"),
    ],
)
def test_bad_settings_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        make(settings)


def test_cli_batch_larger_than_eval_is_exit_2(data_dir, models_dir, write_config):
    config = base_config(
        data_dir, models_dir, checks={"latency": {"batch_sizes": [1, 5000], "warmup": 1}}
    )
    done = run_cli("run", "-c", str(write_config(config)))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "validate: error: checks.latency.batch_sizes: 5000 larger than data.eval (800 rows); "
        "batches are built from eval rows, so use batch sizes up to 800 or a larger eval set"
    )


def test_cli_require_gpu_blocks_without_a_gpu(data_dir, models_dir, write_config, tmp_path):
    config = base_config(
        data_dir,
        models_dir,
        checks={"latency": {"device": "gpu", "require_gpu": True, "warmup": 1}},
    )
    # Whether there is a GPU is decided here, before the run, from the same placement rule;
    # a crash or a reworded message must fail this test, not skip it.
    from validate.models.adapter import resolve_model

    model = resolve_model(str(models_dir / "good"), role="candidate", task="binary")
    if not isinstance(choose_placement("gpu", [model]), str):
        pytest.skip("this machine has a GPU: the no-GPU rule cannot be shown here")
    report = tmp_path / "report.json"
    done = run_cli("run", "-c", str(write_config(config)), "--json", str(report))
    assert "no NVIDIA driver" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 3, done.stdout + done.stderr
    (check,) = json.loads(report.read_text())["checks"]
    assert check["status"] == "error" and check["blocking"] is True


def test_cli_runs_sklearn_model_with_its_champion(data_dir, models_dir, write_config, tmp_path):
    config = base_config(
        data_dir,
        models_dir,
        **{
            "model.baseline": str(models_dir / "weak"),
            "checks": {
                "latency": {
                    "batch_sizes": [1, 64],
                    "warmup": 2,
                    "iterations": 20,
                    "thresholds": {"p95_ms": {"max": 5000}, "throughput_rps": {"min": 0.1}},
                }
            },
        },
    )
    report = tmp_path / "report.json"
    done = run_cli("run", "-c", str(write_config(config)), "--json", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    (check,) = json.loads(report.read_text())["checks"]
    assert check["status"] == "passed"
    assert {f"batch_{b}.{m}" for b in (1, 64) for m in ("p95_ms", "throughput_rps")} <= set(
        check["metrics"]
    )
    assert check["details"]["device"]["models"] == {
        "candidate": "placed by the model (MLflow pyfunc)",
        "baseline": "placed by the model (MLflow pyfunc)",
    }
    assert yaml.safe_load(yaml.safe_dump(check))  # plain data all the way down


@pytest.mark.tensorflow
def test_keras_model_runs_on_tensorflow_placement(tmp_path, virtual_time):
    tf_keras = pytest.importorskip("tf_keras")
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential(
        [tf_keras.Input(shape=(3,)), tf_keras.layers.Dense(1, activation="sigmoid")]
    )
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "champion.keras")
    context = latency_context(str(tmp_path / "m.keras"), str(tmp_path / "champion.keras"))
    virtual_time.tick_ns = 1_000
    result = make({"batch_sizes": [1, 128], "device": "cpu"}).run(context)
    assert result.status is Status.PASSED, result.message
    assert result.details["device"]["models"] == {
        "candidate": "tensorflow /CPU:0",
        "baseline": "tensorflow /CPU:0",
    }
    assert "tensorflow" in result.details["device"]["frameworks"]
    assert "tf_intra_op" in result.details["device"]["threads"]
    # Every call costs one tick of the virtual clock: the ratio is exactly 1.
    low, high = result.details["batches"]["128"]["p95_ratio_vs_baseline"]["ci"]
    assert low == pytest.approx(1.0) and high == pytest.approx(1.0)


def test_gpu_device_asks_kubernetes_for_a_gpu():
    assert make({"device": "gpu"}).resource_requests() == {"nvidia.com/gpu": "1"}
    assert make({"device": "auto"}).resource_requests() == {}
