"""File names built from data (column names, group labels) that stay inside their folder."""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_NAME = 100  # characters before the hash; well under any file system's 255


def safe_filename(text: str, *, limit: int = MAX_NAME) -> str:
    """``text`` as one plain file-name component: no separators, no ``..``, no hidden files.

    Letters, digits, ``-``, ``_`` and ``.`` are kept; anything else becomes ``_``; leading
    dots are dropped and the result is cut to ``limit`` characters. When anything changed,
    a short hash of the original is appended, so ``race/ethnicity`` and ``race_ethnicity``
    cannot overwrite each other's file.

    >>> safe_filename("age")
    'age'
    >>> safe_filename("race/ethnicity")
    'race_ethnicity-078952c4'
    """
    cleaned = _UNSAFE.sub("_", text).lstrip(".")[:limit]
    if cleaned == text and cleaned:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned}-{digest}" if cleaned else digest
