"""validate: CI/CD model validation and bias testing.

The public API re-exports only, and lazily (PEP 562): ``validate run`` starts two
processes, and the one that supervises imports none of NumPy or pydantic. Heavy
libraries (TensorFlow, MLflow, fairlearn, Kubernetes) are imported by the code that
needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from validate._version import __version__

if TYPE_CHECKING:
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

_EXPORTS = {
    "validate.check": ("BaseCheck", "Check", "CheckContext", "CheckSettings"),
    "validate.errors": (
        "ConfigError",
        "DataError",
        "ModelError",
        "PluginError",
        "PromotionError",
        "RecorderError",
        "ValidateError",
    ),
    "validate.gate": ("Decision", "Policy", "decide"),
    "validate.results": ("Assertion", "CheckResult", "Status"),
    "validate.thresholds": ("Bound", "judge"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

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


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'validate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
