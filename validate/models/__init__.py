"""Model resolution: every kind of model becomes a :class:`ModelRef` that yields scores."""

from validate.models.adapter import ModelRef, RegistryVersion, resolve_model
from validate.models.scores import normalize_scores

__all__ = ["ModelRef", "RegistryVersion", "normalize_scores", "resolve_model"]
