"""The lines ``validate run`` prints: plain text, or with ``--log-format json`` one JSON
object per line, carrying the run's trace and span ids for log-to-trace correlation.

A JSON line has ``timestamp`` (UTC, RFC 3339), ``level`` (``info``, ``warning``,
``error``), ``kind`` (``report``, ``notice``, ``kubernetes``, ``progress``, ``problem``),
``message`` (the text line as it would print), ``trace_id`` and ``span_id`` (hex, as
OpenTelemetry writes them; null when no span is known: the supervising process's line
about a run process that died).
"""

from __future__ import annotations

import datetime
import json

import click

FORMATS = ("text", "json")
_format: list[str] = ["text"]
_debug: list[bool | None] = [None]  # None: not the CLI (the pytest plugin, the API)


def set_format(name: str) -> None:
    """Choose ``text`` or ``json`` for this process's lines."""
    _format[:] = [name if name in FORMATS else "text"]


def is_json() -> bool:
    return _format[0] == "json"


def set_debug(on: bool) -> None:
    """Record the CLI's ``--debug``: without it, libraries' own console output (the Spark
    driver's) is kept off validate's lines."""
    _debug[:] = [on]


def libraries_quiet() -> bool:
    """Whether libraries' console output is kept off validate's: in the CLI without
    ``--debug`` only; in-process callers keep theirs where they had it."""
    return _debug[0] is False


def render(text: str, *, kind: str, level: str = "info") -> str:
    """``text`` as printed: unchanged, or each of its lines as one JSON object."""
    if not is_json():
        return text
    from validate.telemetry import current_ids

    ids = current_ids()
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    return "\n".join(
        json.dumps(
            {
                "timestamp": stamp.replace("+00:00", "Z"),
                "level": level,
                "kind": kind,
                "message": line,
                "trace_id": ids[0] if ids else None,
                "span_id": ids[1] if ids else None,
            },
            ensure_ascii=False,
        )
        for line in (text.splitlines() or [""])
    )


def echo(text: str, *, kind: str, level: str = "info", err: bool = False) -> None:
    """Print ``text`` (see :func:`render`) to stdout, or stderr with ``err``."""
    click.echo(render(text, kind=kind, level=level), err=err)
