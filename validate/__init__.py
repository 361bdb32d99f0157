"""validate: CI/CD model validation and bias testing.

The public API re-exports only; heavy libraries (TensorFlow, MLflow,
fairlearn, Kubernetes) are imported by the code that needs them.
"""

from validate._version import __version__
from validate.check import BaseCheck, Check, CheckContext, CheckSettings
from validate.errors import (
    ConfigError,
    DataError,
    ModelError,
    PluginError,
    PromotionError,
    RecorderError,
    ValidateError,
)
from validate.gate import Decision, Policy, decide
from validate.results import Assertion, CheckResult, Status
from validate.thresholds import Bound, judge

__all__ = [
    "Assertion",
    "BaseCheck",
    "Bound",
    "Check",
    "CheckContext",
    "CheckResult",
    "CheckSettings",
    "ConfigError",
    "DataError",
    "Decision",
    "ModelError",
    "PluginError",
    "Policy",
    "PromotionError",
    "RecorderError",
    "Status",
    "ValidateError",
    "__version__",
    "decide",
    "judge",
]
