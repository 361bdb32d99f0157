"""Data loading (parquet, CSV) and the column checks that run before any check does."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from validate.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from validate.config import DataSection, LoadedConfig
    from validate.prefetch import ParquetPrefetch

_READERS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
# Column lists in errors are shortened: a 2,000-column mismatch stays one readable line.
_NAMES_SHOWN = 5
_NAME_WIDTH = 40


@dataclass(frozen=True)
class Datasets:
    """The frames of one validation, with the resolved model inputs."""

    eval: pd.DataFrame
    features: tuple[str, ...]
    target: str
    reference: pd.DataFrame | None = None
    train: pd.DataFrame | None = None

    @property
    def y_true(self) -> np.ndarray:
        return self.eval[self.target].to_numpy()


def read_table(path: str, *, field: str, prefetch: ParquetPrefetch | None = None) -> pd.DataFrame:
    """Read one parquet or CSV file; ``field`` (e.g. ``data.eval``) names it in errors.

    With ``prefetch``, a parquet file it already decoded is taken from there."""
    import pandas as pd

    file = Path(path)
    kind = _READERS.get(file.suffix.lower())
    if kind is None:
        raise DataError(
            f"{field}: {path}: unsupported file type '{file.suffix or '(none)'}'; "
            "use .parquet or .csv"
        )
    if not file.is_file():
        raise DataError(f"{field}: {path}: file not found; check the path (relative to the config)")
    if kind == "csv":
        _refuse_duplicate_csv_header(file, field)
    try:
        frame = prefetch.frame(path) if prefetch is not None and kind == "parquet" else None
        if frame is None:
            frame = pd.read_parquet(file) if kind == "parquet" else pd.read_csv(file)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data problem for users
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{field}: {path}: cannot read as {kind} ({reason})") from exc
    duplicated = sorted(c for c, n in Counter(frame.columns).items() if n > 1)
    if duplicated:
        raise DataError(
            f"{field}: {path}: duplicate column names [{brief_list(map(repr, duplicated))}]; "
            "rename them"
        )
    return frame


def prefetch_datasets(loaded: LoadedConfig) -> ParquetPrefetch:
    """Start reading the config's parquet files in the background (validate.prefetch), or
    take over the reading a run process began before validating the config;
    :func:`load_datasets` takes them from there."""
    from validate.config_file import DATA_FILE_FIELDS
    from validate.prefetch import ParquetPrefetch, claim_early

    section = loaded.config.data
    named = (loaded.resolve(p) for p in (getattr(section, f) for f in DATA_FILE_FIELDS) if p)
    paths = [p for p in named if p]
    return claim_early(paths) or ParquetPrefetch(paths)


def _refuse_duplicate_csv_header(file: Path, field: str) -> None:
    """pandas renames a repeated CSV header ("x1", "x1.1"), which would silently validate
    the wrong column; read the header ourselves and refuse it."""
    import csv

    try:
        with file.open(newline="", encoding="utf-8", errors="replace") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, csv.Error):
        return  # the reader below reports an unreadable file
    duplicated = sorted(c for c, n in Counter(header).items() if n > 1)
    if duplicated:
        raise DataError(
            f"{field}: {file}: duplicate column names [{brief_list(map(repr, duplicated))}] in "
            "the CSV header; rename them"
        )


def load_datasets(
    loaded: LoadedConfig,
    *,
    features_needed_by: str = "",
    prefetch: ParquetPrefetch | None = None,
) -> Datasets:
    """Load every configured dataset and check the columns the config names.

    ``features_needed_by`` ("checks.drift needs") is who needs feature columns; without
    one, a table of only the label and score columns is fine. ``prefetch`` holds files
    already being read (:func:`prefetch_datasets`)."""

    def read(path: str, field: str) -> pd.DataFrame:
        return read_table(loaded.resolve(path) or "", field=field, prefetch=prefetch)

    return _checked_datasets(loaded.config.data, read, features_needed_by)


def load_plain_datasets(
    loaded: LoadedConfig, *, features_needed_by: str, prefetch: ParquetPrefetch
) -> Datasets | None:
    """:func:`load_datasets` without pandas, where every configured file is a parquet
    table of plain numbers (validate.arrow_frame); None otherwise, and nothing is
    reported: :func:`load_datasets` then reads the files and says what is wrong."""
    from validate.arrow_frame import plain_frame

    section = loaded.config.data
    frames: dict[str, Any] = {}
    for path in filter(None, (section.eval, section.reference, section.train)):
        resolved = loaded.resolve(path)
        table = prefetch.table(resolved) if resolved else None
        frame = plain_frame(table) if table is not None else None
        if frame is None:
            return None
        frames[path] = frame
    return _checked_datasets(section, lambda path, field: frames[path], features_needed_by)


def _checked_datasets(
    section: DataSection, read: Callable[[str, str], Any], features_needed_by: str
) -> Datasets:
    """The datasets ``read(path, field)`` gives, their columns checked in the order users
    see the problems: eval first, then reference and train against its features."""
    eval_frame = read(section.eval, "data.eval")
    if len(eval_frame) == 0:
        raise DataError(f"data.eval: {section.eval}: no rows; the eval set must not be empty")
    features = _check_columns(
        eval_frame, section, field="data.eval", features_needed_by=features_needed_by
    )

    reference = train = None
    if section.reference:
        reference = read(section.reference, "data.reference")
        _require(reference, features, field="data.reference", what="feature")
    if section.train:
        train = read(section.train, "data.train")
        _require(train, (*features, section.target), field="data.train", what="column")
    return Datasets(
        eval=eval_frame, features=features, target=section.target, reference=reference, train=train
    )


def _check_columns(
    frame: pd.DataFrame, section: DataSection, *, field: str, features_needed_by: str
) -> tuple[str, ...]:
    _require(frame, (section.target,), field=field, what="target", key="data.target")
    target = frame[section.target]
    if target.isna().any():
        count = int(target.isna().sum())
        raise DataError(
            f"{field}: target column '{section.target}' has {count} missing value(s); "
            "drop or fill those rows before validating"
        )
    score_columns = [c for c in (section.prediction, section.baseline_prediction) if c]
    for key, column in (
        ("data.prediction", section.prediction),
        ("data.baseline_prediction", section.baseline_prediction),
    ):
        if column:
            _require(frame, (column,), field=field, what="prediction", key=key)
            if frame[column].isna().any():
                raise DataError(f"{field}: prediction column '{column}' has missing values")
    if section.features is not None:
        _require(frame, section.features, field=field, what="feature", key="data.features")
        features = tuple(section.features)
    else:
        excluded = {section.target, *score_columns}
        features = tuple(c for c in frame.columns if c not in excluded)
    if not features and features_needed_by:
        raise DataError(
            f"{field}: no feature columns left after the target and score columns, and "
            f"{features_needed_by} them; list data.features"
        )
    empty = [str(c) for c in features if frame[c].isna().all()]
    if empty:
        raise DataError(
            f"{field}: feature column(s) {brief_list(empty)} have no values at all (every row is "
            "missing); fix the export, or leave them out of data.features"
        )
    return features


def _require(
    frame: pd.DataFrame,
    columns: tuple[str, ...] | list[str],
    *,
    field: str,
    what: str,
    key: str | None = None,
) -> None:
    present = set(frame.columns)
    missing = [c for c in columns if c not in present]
    if missing:
        where = f"{key} names" if key else f"{field} lacks"
        raise DataError(
            f"{field}: missing {what} column(s) {brief_list(missing)} ({where} them); "
            f"{columns_hint(missing, frame.columns, field=field)}"
        )


# Column-name words that usually mark a protected attribute: whole words, and stems that
# start one (``ethnicity``, ``religious``). Matched on words, so ``page`` is not ``age``.
_SENSITIVE_WORDS = frozenset(
    {"sex", "gender", "age", "agegroup", "race", "racial", "dob", "birthdate", "color"}
)
_SENSITIVE_STEMS = (
    "ethnic",
    "relig",
    "disab",
    "nationalit",
    "marital",
    "pregnan",
    "orientation",
    "citizen",
    "veteran",
    "caste",
    "colour",
)
_GUESSES = 3


def looks_sensitive(name: object) -> bool:
    """Whether a column name looks like a protected attribute (sex, gender, age, race, …)."""
    return any(
        word in _SENSITIVE_WORDS or word.startswith(_SENSITIVE_STEMS) for word in _words(name)
    )


def columns_hint(
    missing: Iterable[object],
    available: Iterable[object],
    *,
    field: str,
    sensitive: bool = False,
) -> str:
    """What to write instead of a missing column name, for the end of an error line.

    ``did you mean 'sex'? data.eval has 40 columns; available (sensitive-looking first):
    sex, gender, age, x1, x2 … and 35 more``. Guesses are the closest names by
    :mod:`difflib` (case-insensitive) and the names that contain the missing one as a word.
    Sensitive-looking columns come first when ``sensitive`` or a missing name looks
    sensitive itself.
    """
    wanted = [str(m) for m in missing]
    names = [str(c) for c in available]
    guesses = _guesses(wanted, names)
    first = sensitive or any(looks_sensitive(m) for m in wanted)
    ordered = sorted(names, key=lambda c: not looks_sensitive(c)) if first else names
    label = " (sensitive-looking first)" if first and any(map(looks_sensitive, names)) else ""
    count = f"{field} has {len(names):,} column{'' if len(names) == 1 else 's'}"
    listed = f"{count}; available{label}: {brief_list(ordered)}"
    return f"did you mean {guesses}? {listed}" if guesses else listed


def _guesses(missing: list[str], names: list[str]) -> str:
    import difflib

    by_lower: dict[str, str] = {}
    for name in names:
        by_lower.setdefault(name.lower(), name)
    found: list[tuple[str, list[str]]] = []
    for wanted in missing[:_GUESSES]:
        close = difflib.get_close_matches(wanted.lower(), list(by_lower), n=_GUESSES, cutoff=0.6)
        guesses = [by_lower[c] for c in close]
        words = _words(wanted)
        for name in names:
            if len(guesses) >= _GUESSES:
                break
            if name not in guesses and words and set(words) <= set(_words(name)):
                guesses.append(name)
        if guesses:
            found.append((wanted, guesses))
    if not found:
        return ""
    if len(missing) == 1:
        return " or ".join(f"'{_short(g)}'" for g in found[0][1])
    return ", ".join(
        f"{' or '.join(repr(_short(g)) for g in guesses)} for '{_short(wanted)}'"
        for wanted, guesses in found
    )


def _words(name: object) -> list[str]:
    import re

    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))  # camelCase → camel_Case
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def brief_list(names: Iterable[object], *, shown: int = _NAMES_SHOWN) -> str:
    """``a, b, c, d, e … and 1,995 more``: a list of names short enough for one error line.

    Each name is cut to a few dozen characters, so the line stays under ~300 characters
    however many (or however long) the names are.
    """
    items = [_short(str(name)) for name in names]
    if not items:
        return "(none)"
    text = ", ".join(items[:shown])
    rest = len(items) - shown
    return f"{text} … and {rest:,} more" if rest > 0 else text


def _short(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else name[: _NAME_WIDTH - 1] + "…"
