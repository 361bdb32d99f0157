"""NumPy's CPU dispatch on AMD Zen 4, where its AVX-512 sorts are slower than its AVX2 ones.

NumPy's ``sort``, ``argsort``, ``partition`` and ``unique`` run x86-simd-sort's AVX-512
kernels wherever AVX-512 is present. Every partition step of those kernels ends in a
compress-store to memory (``vcompresspd`` with a memory operand), which Zen 4 (AMD family
19h with AVX-512) runs in microcode at over 100 cycles an instruction
(numpy/x86-simd-sort#6; Zen 5 fixed it, Intel never had it). Measured on an EPYC Zen 4
with NumPy 2.4, a million doubles: sort 69 ms with AVX-512 and 12 ms with AVX2, argsort
123 and 41 ms, unique 59 and 12 ms; a 200k-row, 20-column drift run spends 0.3 s of CPU
less. What AVX2 loses is small beside that: log 1.9 → 4.6 ms and exp 1.2 → 5.3 ms a million.
Sorts give equal values either way: -0.0 and 0.0, which compare equal, may swap places,
and an unstable argsort may order ties differently (validate's statistics cast to float64,
and sort stably where the order of ties matters). NumPy 2.4.6's AVX-512 float16 sort even
left values out of order on that machine; its AVX2 sort does not.

So the supervised run process starts with NumPy's AVX-512 targets switched off on Zen 4
(``NPY_DISABLE_CPU_FEATURES``), unless the user set that variable or
``NPY_ENABLE_CPU_FEATURES`` (NumPy refuses to import with both). Only the names the
installed NumPy dispatches on are listed: it warns about any other name (an ImportWarning,
which ``-W error`` turns into a failed import), and the names changed in NumPy 2.4. NumPy
1.x and versions after the last one checked are left as they are. The names follow the
version of the NumPy wheels; a NumPy built otherwise (AVX-512 in its baseline: NumPy
raises RuntimeError; fewer dispatch targets: an ImportWarning), or another NumPy first on
the run process's path, can refuse them, so the run process imports NumPy first and, if
it refuses the names chosen here, starts again without them
(:func:`import_numpy_or_restart`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

DISABLE_ENV = "NPY_DISABLE_CPU_FEATURES"
ENABLE_ENV = "NPY_ENABLE_CPU_FEATURES"
CHOSEN_ENV = "VALIDATE_NUMPY_TARGETS_OFF"  # set beside DISABLE_ENV when we chose its value
# NumPy's AVX-512 dispatch targets, by the NumPy versions that name them so (each list
# imported under -W error::ImportWarning with NumPy 2.0.2, 2.1.3, 2.2.6, 2.3.5 and 2.4.6;
# 2.0-2.2 have no AVX512_SPR target, so naming it there is a warning).
AVX512_TARGETS_2_0 = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"
AVX512_TARGETS_2_4 = "X86_V4 AVX512_ICL AVX512_SPR"
LAST_KNOWN_MINOR = 4  # a later NumPy may rename its targets again: left alone until checked
ZEN4_FAMILY = 25  # AMD family 19h: Zen 3 (no AVX-512) and Zen 4


def numpy_dispatch_tuning(
    environ: Mapping[str, str],
    *,
    cpuinfo: str | None = None,
    numpy_version: str | None = None,
) -> dict[str, str]:
    """The environment a run process should add for NumPy: ``NPY_DISABLE_CPU_FEATURES``
    (with ``CHOSEN_ENV`` beside it, for :func:`import_numpy_or_restart`) on Zen 4 with a
    NumPy whose target names are known, else nothing.

    ``cpuinfo`` (the first processor of ``/proc/cpuinfo``) and ``numpy_version`` default to
    this machine's and the installed NumPy's."""
    if DISABLE_ENV in environ or ENABLE_ENV in environ:
        return {}
    if not is_zen4(first_processor() if cpuinfo is None else cpuinfo):
        return {}
    targets = avx512_targets(installed_numpy_version() if numpy_version is None else numpy_version)
    return {DISABLE_ENV: targets, CHOSEN_ENV: "1"} if targets else {}


def import_numpy_or_restart() -> None:
    """First thing in the run process: where the supervisor chose ``DISABLE_ENV``, import
    NumPy, and if it refuses those names, replace this process with itself started again
    without them (the same arguments; the control channel's and the request pipe's
    descriptors are still open, the request unread). A user's own setting is never
    dropped, and any other import failure is left to be reported where the run imports
    NumPy."""
    if os.environ.pop(CHOSEN_ENV, None) is None:
        return
    try:
        import numpy  # noqa: F401
    except Exception as error:  # noqa: BLE001 - RuntimeError, or ImportWarning under -W error
        if DISABLE_ENV not in str(error):
            return
        environ = {key: value for key, value in os.environ.items() if key != DISABLE_ENV}
        os.execve(sys.executable, sys.orig_argv, environ)


def is_zen4(cpuinfo: str) -> bool:
    """An AMD family 19h processor with AVX-512: Zen 4 (Zen 3, the same family, has none)."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return (
        fields.get("vendor_id") == "AuthenticAMD"
        and fields.get("cpu family") == str(ZEN4_FAMILY)
        and "avx512f" in fields.get("flags", "").split()
    )


def avx512_targets(version: str) -> str | None:
    """The AVX-512 target names NumPy ``version`` dispatches on; None for a version whose
    names are not known here (1.x, or one newer than 2.LAST_KNOWN_MINOR)."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        return None
    major, minor = int(match[1]), int(match[2])
    if major != 2 or minor > LAST_KNOWN_MINOR:
        return None
    return AVX512_TARGETS_2_4 if minor >= 4 else AVX512_TARGETS_2_0


def first_processor(path: str = "/proc/cpuinfo") -> str:
    """The first processor's block of ``/proc/cpuinfo`` ("" where there is none): the
    file is generated on every read, a megabyte on a large machine."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read(16384).split("\n\n", 1)[0]
    except OSError:
        return ""


def installed_numpy_version() -> str:
    """NumPy's version from its ``version.py``, without importing NumPy (tens of
    milliseconds) or reading every distribution's metadata; "" when it is not found."""
    try:
        spec = importlib.util.find_spec("numpy")
    except (ImportError, ValueError):
        return ""
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        try:
            text = (Path(location) / "version.py").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        match = re.search(r"""^version\s*(?::\s*str\s*)?=\s*["']([^"']+)["']""", text, re.M)
        if match:
            return match[1]
    return ""
