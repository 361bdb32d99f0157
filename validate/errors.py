"""One exception family. Every message is one line that says what is wrong and how to fix it."""

from __future__ import annotations


class ValidateError(Exception):
    """Base of every error this project raises on purpose.

    The CLI prints ``str(error)`` as one line and exits with :attr:`exit_code`.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        # Collapse to one line: users see exactly one line on stderr.
        super().__init__(" ".join(str(message).split()))


class ConfigError(ValidateError):
    """validation.yaml is missing, malformed, or asks for something that does not exist."""


class DataError(ValidateError):
    """A data file is missing, unreadable, or lacks what the config names."""


class ModelError(ValidateError):
    """A model does not resolve, does not load, or predicts the wrong shape."""


class PromotionError(ValidateError):
    """Promotion was refused (the gate failed, or the alias moved under us)."""

    exit_code = 1


class RecorderError(ValidateError):
    """MLflow could not record the run: the gate fails closed."""

    exit_code = 3


class PluginError(ValidateError):
    """A check plugin is broken or two installations of a package clash."""
