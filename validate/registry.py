"""Checks come from entry points (group ``validate.checks``); only selected ones are loaded."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from validate.dist_metadata import metadata_field
from validate.errors import ConfigError, PluginError

ENTRY_POINT_GROUP = "validate.checks"
DISTRIBUTION = "validate-gate"
# The built-in checks' ids, each served only by our module ``checks.<id>``: a distribution
# (one calling itself validate-gate included) cannot put other code behind these ids.
BUILTIN_IDS = frozenset({"accuracy", "bias", "drift", "latency", "mindiff"})


@dataclass(frozen=True)
class SelectedCheck:
    """A check picked by the config, built from its settings."""

    name: str
    blocking: bool
    check: Any  # an object with run(context) -> CheckResult
    source: str  # where its code lives, for messages
    timeout_s: float = 3600.0  # checks.<id>.timeout_seconds: past it, the check is an error


def available_checks() -> dict[str, metadata.EntryPoint]:
    """Every installed check by id, without importing any of them. A built-in id is always
    the built-in check: a plug-in registering ``drift`` does not replace the drift gate."""
    found = builtin_checks()
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if not _impostor(entry_point):
            found.setdefault(entry_point.name, entry_point)
    return dict(sorted(found.items()))


def builtin_checks() -> dict[str, metadata.EntryPoint]:
    """Our own distribution's checks: one metadata file, where finding every installed
    check reads every distribution's (16 ms in a venv with TensorFlow and MLflow)."""
    try:
        ours = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return {}
    return {
        ep.name: ep
        for ep in ours.entry_points
        if ep.group == ENTRY_POINT_GROUP and ep.name in BUILTIN_IDS and not _impostor(ep)
    }


def _impostor(entry_point: metadata.EntryPoint) -> bool:
    """A built-in id pointing anywhere but our ``checks.<id>`` module (whose file the
    shadowing check below compares with ours)."""
    return entry_point.name in BUILTIN_IDS and entry_point.module != f"checks.{entry_point.name}"


def load_check_class(entry_point: metadata.EntryPoint) -> type:
    """Import one check class, turning import failures into a one-line PluginError."""
    try:
        loaded = entry_point.load()
    except ImportError as exc:
        raise PluginError(
            f"check '{entry_point.name}' ({entry_point.value}) failed to import: {exc}; "
            "install the extra it needs or fix the plugin"
        ) from exc
    _refuse_shadowed_module(entry_point, loaded)
    if not inspect.isclass(loaded) or not callable(getattr(loaded, "run", None)):
        raise PluginError(
            f"check '{entry_point.name}' ({entry_point.value}) is not a class with run(context)"
        )
    return loaded


def _refuse_shadowed_module(entry_point: metadata.EntryPoint, loaded: Any) -> None:
    """A model repo's own top-level ``checks/`` folder can shadow ours: say so, naming both."""
    import sys
    from pathlib import Path

    module_name = entry_point.module
    module_file = getattr(sys.modules.get(module_name), "__file__", None)
    if module_file is None:
        return
    loaded_path = Path(module_file).resolve()
    expected = _expected_location(entry_point)
    if expected is not None and expected.exists() and expected != loaded_path:
        raise PluginError(
            f"check '{entry_point.name}': module '{module_name}' was imported from {loaded_path}, "
            f"which shadows the installed {expected}; rename your local "
            f"'{module_name.split('.')[0]}' folder or run from another directory"
        )


def _expected_location(entry_point: metadata.EntryPoint) -> Any:
    """Where the entry point's module should come from, when we can tell."""
    import sys
    from pathlib import Path

    relative = entry_point.module.replace(".", "/") + ".py"
    top = entry_point.module.split(".")[0]
    if (
        top == "checks"
        and entry_point.dist is not None
        and metadata_field(entry_point.dist, "Name") == DISTRIBUTION
    ):
        package = sys.modules.get("checks")
        if getattr(package, "__validate_builtin__", False):
            return None  # our own package is the one imported
        # Our checks/ sits beside validate/ in every install layout, editable included.
        import validate

        return (Path(validate.__file__).resolve().parent.parent / relative).resolve()
    if entry_point.dist is None:
        return None
    try:
        return Path(str(entry_point.dist.locate_file(relative))).resolve()
    except Exception:  # noqa: BLE001 - a distribution we cannot inspect: nothing to compare
        return None


def select_checks(
    sections: Mapping[str, Mapping[str, Any] | None],
    *,
    task: str,
    only: Iterable[str] = (),
) -> list[SelectedCheck]:
    """Build the checks the config asks for (optionally only those named in ``only``).

    Raises
    ------
    ConfigError
        For an unknown check id (listing the installed ones) or bad settings.
    """
    # A set, in config order: `--check a --check a` is one check, not a full run of two.
    wanted = list(dict.fromkeys(only)) or list(sections)
    builtin = builtin_checks()
    installed = builtin if set(wanted) <= set(builtin) else available_checks()
    for name in wanted:
        if name not in sections:
            raise ConfigError(
                f"--check {name}: not in the config's checks ({', '.join(sections)}); "
                "add it to checks: or pick one of those"
            )
    selected = []
    for name in wanted:
        if name not in installed:
            raise ConfigError(
                f"checks.{name}: unknown check; installed checks: {', '.join(installed) or 'none'} "
                "(see `validate checks list`)"
            )
        section = dict(sections[name] or {})
        blocking = section.pop("blocking", True)
        if not isinstance(blocking, bool):
            raise ConfigError(f"checks.{name}.blocking: expected true or false, got {blocking!r}")
        timeout_s = _timeout_seconds(name, section.pop("timeout_seconds", DEFAULT_TIMEOUT_S))
        cls = load_check_class(installed[name])
        if hasattr(cls, "from_config"):
            check = cls.from_config(name, section, task=task)
        else:
            try:
                check = cls(**section)
            except TypeError as exc:  # a plain class given settings it does not take
                raise ConfigError(f"checks.{name}: {exc}; see the check's documentation") from exc
        selected.append(
            SelectedCheck(
                name=name,
                blocking=blocking,
                check=check,
                source=installed[name].value,
                timeout_s=timeout_s,
            )
        )
    return selected


DEFAULT_TIMEOUT_S = 3600.0


def _timeout_seconds(name: str, value: Any) -> float:
    """``checks.<id>.timeout_seconds``: a positive, finite number of seconds."""
    import math

    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ConfigError(
            f"checks.{name}.timeout_seconds: expected a positive number of seconds, got "
            f"{value!r} (default {DEFAULT_TIMEOUT_S:g})"
        )
    return float(value)
