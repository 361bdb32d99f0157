"""The ``latency`` check: inference latency percentiles per batch size, on GPU or CPU, with
confidence intervals and an interleaved comparison against the champion.

For each batch size (the first N eval rows): warm-up calls, then timed calls until
``iterations`` or ``max_seconds``; candidate and champion alternate call by call.
Reported per batch size: p50/p95/p99/mean (ms), standard deviation, coefficient of
variation, throughput (rows/s), bootstrap CIs, and the candidate/champion p95 ratio
with a paired CI. A measurement too noisy to decide a threshold (high CV, and the
CI spans the limit) is reported as a warning rather than judged by a coin flip.

Run it alone (``--jobs 1``, or its own Kubernetes Job): other checks sharing the
CPUs would be timed too.
"""

from __future__ import annotations

import csv
import os
import time
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, field_validator, model_validator

from validate.check import BaseCheck, CheckContext, CheckSettings, Input
from validate.errors import ConfigError, ModelError
from validate.models.adapter import ModelRef
from validate.models.timing import (
    Placement,
    gpu_unusable,
    runs_on_tensorflow,
    runtime_of,
    tensorflow_fallback,
    timed_call,
)
from validate.results import Assertion, CheckResult, Status
from validate.stats import latency as stats
from validate.thresholds import CIBound, ci_required, format_value, judge, require_intervals
from validate.timing import Budget, TimedCallFailed, measure_interleaved

RATIO = "p95_ratio_vs_baseline"


class LatencySettings(CheckSettings):
    model_config = ConfigDict(allow_inf_nan=False)

    device: Literal["auto", "cpu", "gpu"] = Field(
        default="auto", description="auto: the GPU when one is visible, else the CPU."
    )
    require_gpu: bool = Field(
        default=False, description="With device: gpu, no GPU is an error (blocks), not a skip."
    )
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 64])
    warmup: int = Field(default=20, ge=0, description="Untimed calls per model and batch size.")
    iterations: int = Field(default=200, description="Timed calls per model and batch size.")
    min_iterations: int = Field(default=10, ge=1, description="Floor when max_seconds runs out.")
    max_seconds: float = Field(default=15.0, gt=0, description="Time budget per batch size.")
    compare_baseline: bool = Field(default=True, description="Time the champion, interleaved.")
    max_ratio_vs_baseline: float | None = Field(
        default=None, gt=0, description="Largest allowed candidate/champion p95 ratio."
    )
    ratio_judge: Literal["point", "upper_ci"] = "point"
    max_cv: float = Field(
        default=0.5, gt=0, description="Above this coefficient of variation a run is noisy."
    )
    when_noisy: Literal["warn", "error"] = Field(
        default="warn", description="A threshold too noisy to decide: warn, or make it an error."
    )
    n_resamples: int = Field(default=1000, ge=0)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    thresholds: dict[str, CIBound] = Field(
        default_factory=dict,
        description="p50_ms, p95_ms, p99_ms, mean_ms, throughput_rps; all batch sizes, "
        "or one: batch_64.p95_ms.",
    )

    @field_validator("iterations")
    @classmethod
    def _some_iterations(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value} timed iterations measure nothing; use at least 1 (say 200)")
        return value

    @field_validator("batch_sizes")
    @classmethod
    def _positive_unique(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("give at least one batch size, for example [1, 64]")
        if any(size < 1 for size in value):
            raise ValueError("batch sizes are row counts of 1 or more")
        if len(set(value)) != len(value):
            raise ValueError("a batch size is listed twice")
        return value

    @model_validator(mode="after")
    def _intervals_for_ci_judges(self) -> LatencySettings:
        if self.n_resamples == 0:
            require_intervals(self, {"thresholds": self.thresholds}, default=1000)
            if self.ratio_judge != "point" and self.max_ratio_vs_baseline is not None:
                advice = "set n_resamples >= 1 (default 1000) or ratio_judge: point"
                raise ci_required(
                    self, ("ratio_judge",), f"ratio_judge: {self.ratio_judge}", advice
                )
        return self


class LatencyCheck(BaseCheck):
    """Inference latency of the candidate (and the champion, interleaved) per batch size."""

    Settings = LatencySettings
    needs_models = True  # on Kubernetes, the pod fetches the models, not only the scores

    @classmethod
    def validate_for_task(cls, name: str, settings: LatencySettings, task: str) -> None:  # type: ignore[override]
        for key in settings.thresholds:
            batch, statistic = _split_threshold_key(key)
            if statistic not in stats.STATISTICS:
                raise ConfigError(
                    f"checks.{name}.thresholds.{key}: unknown metric '{statistic}'; "
                    f"valid: {', '.join(stats.STATISTICS)} (optionally batch_N.<metric>)"
                )
            if batch is not None and batch not in settings.batch_sizes:
                raise ConfigError(
                    f"checks.{name}.thresholds.{key}: batch size {batch} is not in batch_sizes "
                    f"{settings.batch_sizes}; add it there or fix the key"
                )
        if settings.require_gpu and settings.device != "gpu":
            raise ConfigError(
                f"checks.{name}.require_gpu: only applies to device: gpu "
                f"(device is {settings.device}); set device: gpu or drop require_gpu"
            )
        if settings.max_ratio_vs_baseline is not None and not settings.compare_baseline:
            raise ConfigError(f"checks.{name}.max_ratio_vs_baseline: needs compare_baseline: true")

    def needs(self) -> frozenset[Input]:
        """A model to call and the feature columns to build its batches from."""
        return frozenset({Input.CANDIDATE_MODEL, Input.FEATURES})

    def resource_requests(self) -> dict[str, str]:
        """What this check's Kubernetes Job asks for beyond the configured resources: a GPU
        when the settings say ``device: gpu`` (``auto`` runs wherever it is scheduled)."""
        settings: LatencySettings = self.settings  # type: ignore[assignment]
        return {"nvidia.com/gpu": "1"} if settings.device == "gpu" else {}

    def validate_data(self, eval_data: pd.DataFrame) -> None:
        settings: LatencySettings = self.settings  # type: ignore[assignment]
        too_big = [size for size in settings.batch_sizes if size > len(eval_data)]
        if too_big:
            raise ConfigError(
                f"checks.{self.name}.batch_sizes: {', '.join(map(str, too_big))} "
                f"larger than data.eval ({len(eval_data)} rows); batches are built from eval "
                f"rows, so use batch sizes up to {len(eval_data)} or a larger eval set"
            )

    def run(self, context: CheckContext) -> CheckResult:
        started = time.perf_counter()
        settings: LatencySettings = self.settings  # type: ignore[assignment]
        candidate = context.candidate
        if candidate is None or candidate.kind == "column":
            return self.early_result(
                started,
                "latency needs a model to call; the candidate is precomputed scores "
                "(data.prediction)",
                status=Status.SKIPPED,
            )
        warnings: list[str] = []
        champion = self._champion(context, settings, warnings)
        models = [candidate] + ([champion] if champion else [])
        for ref in models:
            why = tensorflow_fallback(ref)
            if why:
                # Timing another serving path without saying so would be a false figure.
                warnings.append(
                    f"model.{ref.role} ({ref.uri}) wraps a TensorFlow model but was timed "
                    f"through MLflow pyfunc, not TensorFlow: {why}; its figures include "
                    "pyfunc's overhead"
                )
        try:
            placement = choose_placement(settings.device, models)
        except ModelError as exc:
            return self.early_result(started, str(exc))
        if isinstance(placement, str):
            status = Status.ERROR if settings.require_gpu else Status.SKIPPED
            return self.early_result(started, placement, status=status)

        budget = Budget(
            warmup=settings.warmup,
            iterations=settings.iterations,
            max_seconds=settings.max_seconds,
            min_iterations=settings.min_iterations,
        )
        measured: dict[int, dict[str, np.ndarray]] = {}
        for size in settings.batch_sizes:
            batch = context.eval_data.iloc[:size]
            try:
                calls = {
                    model.role: timed_call(model, batch, context.features, placement)
                    for model in models
                }
                measured[size] = measure_interleaved(calls, budget)
            except ModelError as exc:
                return self.early_result(started, str(exc))
            except TimedCallFailed as exc:
                model = candidate if exc.name == candidate.role else champion
                text = " ".join(str(exc.error).split())[:300]
                return self.early_result(
                    started,
                    f"model.{exc.name} ({model.uri if model else ''}) failed on a batch of "
                    f"{size} rows: {type(exc.error).__name__}: {text}",
                )

        metrics, intervals, batches = self._summaries(measured, settings, context.seed)
        assertions = self._judge(settings, metrics, intervals, champion is not None, warnings)
        details = {
            "requested_device": settings.device,
            "device": _environment(placement, models),
            "batches": batches,
            "budget": {
                "warmup": budget.warmup,
                "iterations": budget.iterations,
                "min_iterations": budget.min_iterations,
                "max_seconds": budget.max_seconds,
            },
            "order": [model.role for model in models],
            "inputs": {ref.role: _inputs(ref, context.features) for ref in models},
            "warnings": warnings,
        }
        _save_timings(context.artifact_dir, measured)
        headline = ", ".join(
            f"p95 {format_value(metrics[f'batch_{size}.p95_ms'])} ms at batch {size}"
            for size in settings.batch_sizes
        )
        note = f" ({len(warnings)} warning{'s' if len(warnings) > 1 else ''})" if warnings else ""
        result = self.conclude(
            started=started,
            assertions=assertions,
            metrics=metrics,
            details=details,
            fallback=f"{headline} on {placement.device}{note}",
            note=note,
        )
        noisy = [w for w in warnings if "too noisy" in w]
        if noisy and settings.when_noisy == "error":
            return result.with_updates(status=Status.ERROR, message="; ".join(noisy))
        return result

    def _champion(
        self, context: CheckContext, settings: LatencySettings, warnings: list[str]
    ) -> ModelRef | None:
        baseline = context.baseline
        if not settings.compare_baseline:
            return None
        if baseline is None or baseline.kind == "column":
            if settings.max_ratio_vs_baseline is not None:
                why = "no model.baseline" if baseline is None else "the champion is precomputed"
                warnings.append(f"max_ratio_vs_baseline not judged: {why}")
            return None
        return baseline

    def _summaries(
        self, measured: dict[int, dict[str, np.ndarray]], settings: LatencySettings, seed: int
    ) -> tuple[dict[str, float], dict[str, tuple[float, float]], dict[str, Any]]:
        metrics: dict[str, float] = {}
        intervals: dict[str, tuple[float, float]] = {}
        batches: dict[str, Any] = {}
        for size, timings in measured.items():
            prefix = f"batch_{size}"
            entry: dict[str, Any] = {}
            for role, series in timings.items():
                summary = stats.summarize(series, size)
                ci = stats.bootstrap_intervals(
                    series,
                    size,
                    n_resamples=settings.n_resamples,
                    confidence=settings.confidence,
                    seed=seed,
                )
                entry[role] = {
                    **summary.metrics(),
                    "iterations": summary.iterations,
                    "ci": {k: list(v) for k, v in ci.items()},
                }
                if role == "candidate":
                    entry["iterations"] = summary.iterations
                    for key, value in summary.metrics().items():
                        metrics[f"{prefix}.{key}"] = value
                    for key, interval in ci.items():
                        intervals[f"{prefix}.{key}"] = interval
                    metrics[f"{prefix}.p95_ms.ci_low"], metrics[f"{prefix}.p95_ms.ci_high"] = ci[
                        "p95_ms"
                    ]
                else:
                    metrics[f"{prefix}.champion.p95_ms"] = summary.p95_ms
            if "baseline" in timings:
                ratio, ratio_ci = stats.paired_ratio(
                    timings["candidate"],
                    timings["baseline"],
                    n_resamples=settings.n_resamples,
                    confidence=settings.confidence,
                    seed=seed,
                )
                metrics[f"{prefix}.{RATIO}"] = ratio
                intervals[f"{prefix}.{RATIO}"] = ratio_ci
                entry[RATIO] = {"value": ratio, "ci": list(ratio_ci)}
                cv = max(entry["candidate"]["cv"], entry["baseline"]["cv"])
            else:
                cv = entry["candidate"]["cv"]
            metrics[f"{prefix}.worst_cv"] = cv
            batches[str(size)] = entry
        return metrics, intervals, batches

    def _judge(
        self,
        settings: LatencySettings,
        metrics: dict[str, float],
        intervals: dict[str, tuple[float, float]],
        has_champion: bool,
        warnings: list[str],
    ) -> tuple[Assertion, ...]:
        rules: list[tuple[str, CIBound, int]] = []
        for key, bound in settings.thresholds.items():
            batch, statistic = _split_threshold_key(key)
            sizes = [batch] if batch is not None else settings.batch_sizes
            rules.extend((f"batch_{size}.{statistic}", bound, size) for size in sizes)
        if settings.max_ratio_vs_baseline is not None and has_champion:
            bound = CIBound(max=settings.max_ratio_vs_baseline, judge=settings.ratio_judge)
            rules.extend((f"batch_{size}.{RATIO}", bound, size) for size in settings.batch_sizes)
        judged: list[Assertion] = []
        for metric, bound, size in rules:
            ci = intervals.get(metric)
            cv = metrics[f"batch_{size}.worst_cv"]
            for assertion in judge(metric, metrics[metric], bound, ci):
                if cv > settings.max_cv and ci is not None and _spans(ci, assertion.threshold):
                    warnings.append(
                        f"{metric} {assertion.op} {assertion.threshold:g} not judged, too noisy: "
                        f"CV {cv:.2f} > max_cv {settings.max_cv:g} "
                        f"and its CI [{format_value(ci[0])}, {format_value(ci[1])}] spans "
                        f"{assertion.threshold:g}; raise iterations or measure on a quieter "
                        "machine"
                    )
                    continue
                judged.append(assertion)
        return tuple(judged)


def choose_placement(requested: str, models: list[ModelRef]) -> Placement | str:
    """The device the timed calls run on, or (a string) why ``device: gpu`` cannot run.

    TensorFlow models are asked through TensorFlow (what it can use is what counts);
    other models through the NVIDIA driver, without importing a framework. ONNX and
    PyTorch models also need their runtime's CUDA support (the CUDA execution provider, a
    CUDA build of torch): without it ``gpu`` is refused and ``auto`` times the CPU, never
    a CPU run reported as a GPU one.
    """
    from validate import devices

    if requested == "cpu":
        return Placement(device="cpu", tf_device="/CPU:0")
    on_tensorflow = any(runs_on_tensorflow(model) for model in models)
    found = len(devices.tensorflow_gpus()) if on_tensorflow else len(devices.driver_gpus())
    if found:
        unusable = [f"model.{m.role}: {why}" for m in models if (why := gpu_unusable(m))]
        if not unusable:
            return Placement(device="gpu", tf_device="/GPU:0", gpu_index=0)
        if requested == "gpu":
            return (
                f"device: gpu, but a GPU is visible and {'; '.join(unusable)}; install the "
                "runtime's GPU build, or set device: auto"
            )
        return Placement(device="cpu", tf_device="/CPU:0")
    if requested == "gpu":
        seen_by = "TensorFlow lists no GPU" if on_tensorflow else "no NVIDIA driver or GPU found"
        return (
            f"device: gpu, but {seen_by} on this machine; run it where a GPU is visible "
            "(on Kubernetes the Job asks for nvidia.com/gpu), or set device: auto"
        )
    return Placement(device="cpu", tf_device="/CPU:0")


def _environment(placement: Placement, models: list[ModelRef]) -> dict[str, Any]:
    from validate.devices import describe_environment

    where = {}
    for model in models:
        fallback = tensorflow_fallback(model)
        runtime = runtime_of(model)
        on_gpu = placement.device == "gpu"
        if runtime == "onnxruntime":
            provider = "CUDAExecutionProvider" if on_gpu else "CPUExecutionProvider"
            where[model.role] = f"onnxruntime {provider}"
        elif runtime == "torch":
            where[model.role] = f"torch {f'cuda:{placement.gpu_index or 0}' if on_gpu else 'cpu'}"
        elif runtime == "tensorflow":
            where[model.role] = f"tensorflow {placement.tf_device}"
        elif fallback:
            where[model.role] = f"MLflow pyfunc, not TensorFlow ({fallback})"
        else:
            where[model.role] = "placed by the model (MLflow pyfunc)"
    report = describe_environment(placement.device, placement.gpu_index)
    report["models"] = where
    return report


def _inputs(ref: ModelRef, features: tuple[str, ...]) -> dict[str, Any]:
    """The columns a timed call hands the model, and whose list that is."""
    columns, source = ref.inputs(features)
    return {"columns": list(columns), "from": source}


def _split_threshold_key(key: str) -> tuple[int | None, str]:
    """``p95_ms`` → (None, p95_ms); ``batch_64.p95_ms`` → (64, p95_ms)."""
    head, dot, tail = key.partition(".")
    if dot and head.startswith("batch_") and head[len("batch_") :].isdigit():
        return int(head[len("batch_") :]), tail
    return None, key


def _spans(ci: tuple[float, float], limit: float) -> bool:
    """Whether the limit lies inside the interval, so the verdict depends on the noise."""
    return bool(ci[0] < limit < ci[1])


def _save_timings(folder: str | None, measured: dict[int, dict[str, np.ndarray]]) -> None:
    """Every timed call, for anyone who wants to recompute the figures (MLflow artifact)."""
    if folder is None:
        return
    with open(os.path.join(folder, "latency_timings.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["batch_size", "model", "iteration", "nanoseconds"])
        for size, timings in measured.items():
            for role, series in timings.items():
                writer.writerows((size, role, i, int(ns)) for i, ns in enumerate(series))
