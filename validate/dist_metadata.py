"""A field of an installed distribution's metadata, read from the header lines alone.

``importlib.metadata`` answers ``version`` and ``name`` by parsing the whole METADATA file
with the email package; where the long description is a README that is 100 KB of body for
one header line (18 ms for the packages every run records, issue 16). The header lines
come first and end at the first empty line, so they are read here by the rules email's
parser applies to them (the value after the first colon, leading blanks removed; the
first header of that name, in any case). Whatever this reading does not cover (a folded
value, a line that is not a header before the field, no such field) is answered by
``importlib.metadata`` itself, which stays the reference: tests/test_dist_metadata.py
compares the two on every installed distribution and on crafted files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import metadata

_LINE_END = re.compile(r"\r\n|\r|\n")  # email.feedparser's NLCRE
_HEADER = re.compile(r"[\041-\071\073-\176]+:")  # a name, then a colon (feedparser's headerRE)
_FOLDED = (" ", "\t")


def metadata_field(distribution: metadata.Distribution, name: str) -> str:
    """``distribution.metadata[name]``, without parsing the metadata's body."""
    text = (
        distribution.read_text("METADATA")
        or distribution.read_text("PKG-INFO")
        or distribution.read_text("")
    )
    found = _header_value(text or "", name.lower())
    return found if found is not None else distribution.metadata[name]


def version(name: str) -> str:
    """``importlib.metadata.version(name)`` (raises PackageNotFoundError the same way)."""
    return metadata_field(metadata.distribution(name), "Version")


def _header_value(text: str, wanted: str) -> str | None:
    """The value of the first header named ``wanted`` (lower case), or None where this
    reading is not sure to agree with email's parser."""
    lines = list(_header_lines(text))
    for index, line in enumerate(lines):
        if not line:
            return None  # the end of the headers: no such field
        if line.startswith(_FOLDED):
            if index == 0:
                return None
            continue  # the folded rest of an earlier header
        if not _HEADER.match(line):
            return None  # email's parser would end the headers here, or treat it otherwise
        key, value = line.split(":", 1)
        if key.lower() != wanted:
            continue
        if index + 1 < len(lines) and lines[index + 1].startswith(_FOLDED):
            return None  # a folded value: email joins the lines
        return value.lstrip(" \t")
    return None


def _header_lines(text: str) -> Iterator[str]:
    """The lines up to and including the first empty one (not the body: it can be long)."""
    start = 0
    for end in _LINE_END.finditer(text):
        line = text[start : end.start()]
        yield line
        if not line:
            return
        start = end.end()
    yield text[start:]
