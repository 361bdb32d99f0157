"""JUnit XML: one testcase per check, so CI systems show checks as tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from validate.reporting.json_report import write_atomically
from validate.results import CheckResult, Status


def render_junit(results: Sequence[CheckResult], *, suite: str = "validate") -> str:
    """The XML text. failed → <failure> with the failing sentences; error → <error>;
    skipped → <skipped>; an advisory (blocking: false) failure passes, noted in system-out."""
    counts = {
        "tests": str(len(results)),
        "failures": str(sum(r.status is Status.FAILED and r.blocking for r in results)),
        "errors": str(sum(r.status is Status.ERROR and r.blocking for r in results)),
        "skipped": str(sum(r.status is Status.SKIPPED for r in results)),
        "time": f"{sum(r.duration_s for r in results):.3f}",
    }
    root = ET.Element("testsuites", {"name": suite, **counts})
    testsuite = ET.SubElement(root, "testsuite", {"name": suite, **counts})
    for result in results:
        case = ET.SubElement(
            testsuite,
            "testcase",
            classname=suite,
            name=result.name,
            time=f"{result.duration_s:.3f}",
        )
        text = "\n".join(a.sentence for a in result.failed_assertions) or result.message
        if result.status is Status.SKIPPED:
            ET.SubElement(case, "skipped", message=result.message)
        elif not result.blocking and result.status in (Status.FAILED, Status.ERROR):
            ET.SubElement(
                case, "system-out"
            ).text = f"advisory {result.status.value} (blocking: false): {text}"
        elif result.status is Status.FAILED:
            ET.SubElement(
                case, "failure", message=result.message, type="ThresholdFailed"
            ).text = text
        elif result.status is Status.ERROR:
            ET.SubElement(case, "error", message=result.message, type="CheckError").text = text
        else:
            ET.SubElement(case, "system-out").text = result.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(
    results: Sequence[CheckResult], path: str | Path, *, suite: str = "validate"
) -> None:
    write_atomically(path, render_junit(results, suite=suite))
