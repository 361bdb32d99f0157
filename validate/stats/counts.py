"""Counting helpers every statistics module shares: joint cell counts, division that is 0
where the denominator is, and the row bootstrap drawn as per-row counts.

* :func:`cells` is the one place rows become counts. The quality metrics count
  (label, decision) and (label, candidate decision, champion decision); the fairness
  metrics count (group, label, decision) and (group, label, decision A, decision B).
  All of them are one ``np.bincount`` over the joint code.
* :func:`safe_divide` is scikit-learn's ``zero_division=0`` (and the ``nan_to_num`` of
  ``confusion_matrix(normalize=...)``), which fairlearn's rates inherit.
* :func:`resampled_rows` and :func:`row_counts` are the ordinary row bootstrap (Efron &
  Tibshirani 1993, ch. 6): resample *n* rows with replacement, B times. They come in
  chunks of resamples so that B × n integers never sit in memory at once, and a
  statistic that is a weighted sum (or, after one sort, a weighted cumulative sum) of
  per-row terms is then evaluated for a whole chunk with array operations instead of a
  Python loop per resample.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

# At most this many drawn row indices in one chunk (8 bytes each: 8 MiB).
CHUNK_CELLS = 1 << 20


def cells(codes: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """Row counts over the joint values of integer codes.

    Parameters
    ----------
    codes
        One integer array per axis, all of the same length; ``codes[i]`` takes values in
        ``range(sizes[i])`` (a label, a decision, a group index).
    sizes
        The number of values of each axis.

    Returns
    -------
    numpy.ndarray
        float64 counts of shape ``tuple(sizes)``: ``out[a, b, …]`` is the number of rows
        with ``codes[0] == a``, ``codes[1] == b``, ….
    """
    if len(codes) != len(sizes) or not codes:
        raise ValueError("cells needs one size per code array, and at least one of each")
    # One int64 buffer, updated in place: on millions of rows every temporary is a fresh
    # array whose pages the kernel must fault in, which costs more than the arithmetic.
    # Narrower codes (int8 labels, boolean decisions) are widened as they are added.
    flat = np.array(codes[0], dtype=np.int64, copy=True)
    for code, size in zip(codes[1:], sizes[1:], strict=True):
        np.multiply(flat, int(size), out=flat)
        np.add(flat, np.asarray(code), out=flat, casting="unsafe")
    total = int(np.prod([int(s) for s in sizes]))
    return np.bincount(flat, minlength=total).reshape(tuple(sizes)).astype(np.float64)


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` elementwise, 0 where the denominator is 0 (or negative).

    scikit-learn's ``zero_division=0`` for precision, recall and F1, and the
    ``nan_to_num`` its ``confusion_matrix(normalize="true")`` applies, which fairlearn's
    group rates inherit.
    """
    numerator, denominator = np.asarray(numerator), np.asarray(denominator)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def chunk_size(n_rows: int, n_resamples: int) -> int:
    """Resamples per chunk for ``n_rows`` rows: the most that keep a chunk under
    :data:`CHUNK_CELLS` indices (at least one). Depends on nothing but its arguments, so a
    seeded bootstrap draws the same numbers on every machine."""
    return max(1, min(n_resamples, CHUNK_CELLS // max(n_rows, 1)))


def resampled_rows(
    n_rows: int, n_resamples: int, seed: int | np.random.Generator
) -> Iterator[np.ndarray]:
    """The row bootstrap's drawn row indices, in chunks of shape ``(c, n_rows)``.

    Every chunk's rows are independent resamples of ``n_rows`` rows drawn uniformly with
    replacement; the chunks together hold exactly ``n_resamples`` resamples. ``seed``: an
    integer, or a Generator to draw from (and advance).
    """
    rng = np.random.default_rng(seed)
    step = chunk_size(n_rows, n_resamples)
    for start in range(0, n_resamples, step):
        yield rng.integers(0, n_rows, size=(min(step, n_resamples - start), n_rows))


def row_counts(drawn: np.ndarray, n_rows: int) -> np.ndarray:
    """How often each row was drawn in each resample: ``(c, n_rows)`` float64 weights from
    ``(c, k)`` drawn indices (a Multinomial(k, 1/n_rows) vector per resample)."""
    c = drawn.shape[0]
    offsets = (np.arange(c, dtype=np.int64) * n_rows)[:, None]
    flat = (drawn + offsets).ravel()
    return np.bincount(flat, minlength=c * n_rows).reshape(c, n_rows).astype(np.float64)
