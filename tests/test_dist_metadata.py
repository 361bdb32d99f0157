"""validate.dist_metadata reads a metadata field from the header lines alone; it must give
exactly what importlib.metadata gives (its email parse is the reference)."""

from __future__ import annotations

import warnings
from importlib import metadata
from pathlib import Path

import pytest

from validate.dist_metadata import metadata_field, version
from validate.tracking import package_versions


class TextDistribution(metadata.Distribution):
    """A distribution whose METADATA is the given text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def read_text(self, filename: str) -> str | None:
        return self.text if filename == "METADATA" else None

    def locate_file(self, path: str | Path) -> Path:  # pragma: no cover - not used
        return Path(path)


def reference(distribution: metadata.Distribution, name: str) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.11: a missing key warns
        try:
            return distribution.metadata[name]
        except KeyError:  # 3.12+: a missing key raises
            return None


def ours(distribution: metadata.Distribution, name: str) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return metadata_field(distribution, name)
        except KeyError:
            return None


def test_every_installed_distribution_reads_the_same():
    distributions = list(metadata.distributions())
    assert len(distributions) > 20  # this environment's: the test means something
    for distribution in distributions:
        for name in ("Name", "Version", "Summary", "Requires-Python", "License"):
            assert ours(distribution, name) == reference(distribution, name), (
                distribution._path,  # type: ignore[attr-defined]
                name,
            )


def test_the_recorded_package_versions_are_importlib_metadatas():
    expected = {}
    for name in package_versions():
        expected[name] = metadata.version(name)
    assert package_versions() == expected
    assert expected["validate-gate"] == metadata.version("validate-gate")
    with pytest.raises(metadata.PackageNotFoundError):
        version("no-such-distribution-anywhere")


@pytest.mark.parametrize(
    "text",
    [
        "Metadata-Version: 2.1\nName: plain\nVersion: 1.2.3\n\nbody Version: 9\n",
        "Metadata-Version: 2.1\r\nName: crlf\r\nVersion: 1.2.3\r\n\r\nbody\r\n",
        "Metadata-Version: 2.1\rName: cr\rVersion: 1.2.3\r\rbody",
        "Name:\tTabbed\nVersion:\t \t1.0 \n\n",
        "name: lower\nversion: 2.0\n\n",
        "NAME: upper\nVERSION: 3.0\n\n",
        "Name: first\nName: second\nVersion: 1\nVersion: 2\n\n",
        "Name: folded\nVersion: 1.0\n  .post1\n\n",
        "Summary: a\n  folded summary\nName: after-fold\nVersion: 4\n\n",
        "From someone\nName: unixfrom\nVersion: 5\n\n",
        " Name: leading-blank\nVersion: 6\n\n",
        "Name: no-blank-line\nVersion: 7",
        "Name: body-first\n\nVersion: 8\n",
        "Name: colonless line\nnot a header\nVersion: 9\n\n",
        "Name: x: y\nVersion: 1:2\n\n",
        "Name:\nVersion:\n\n",
        "Name: no-version\n\n",
        "\ufeffName: bom\nVersion: 1\n\n",
        "Name: ünïcödé\nVersion: 1.0\n\n",
        "Name: tail spaces   \nVersion: 1.0   \n\n",
        "",
    ],
)
def test_crafted_metadata_reads_as_email_reads_it(text):
    distribution = TextDistribution(text)
    for name in ("Name", "Version", "Summary"):
        assert ours(distribution, name) == reference(distribution, name), (text, name)
