"""Detect a foreign ``validate/__init__.py`` (configobj ships a shim with the same import name)."""

from __future__ import annotations

FOREIGN_VALIDATE_MESSAGE = (
    "the installed 'validate' package at {location} is not this project's (another package, "
    "such as configobj, overwrote validate/__init__.py); install validate-gate in its own "
    "virtual environment, or reinstall it: pip install --force-reinstall validate-gate "
    "(from a clone of validate: pip install --force-reinstall .)"
)


def foreign_validate_problem() -> str | None:
    """A one-line explanation when ``import validate`` gives someone else's module, else None."""
    try:
        import validate
    except ImportError as exc:
        return f"cannot import the 'validate' package ({exc}); reinstall validate-gate"
    if not hasattr(validate, "__version__") or not hasattr(validate, "CheckResult"):
        location = getattr(validate, "__file__", "(unknown)")
        return FOREIGN_VALIDATE_MESSAGE.format(location=location)
    return None
