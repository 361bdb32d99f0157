"""The README's two commands are the ones CI runs."""

import re

from conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:sh|bash)\n(.+?)\n```", quick)


def test_readme_has_exactly_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("nox -s demo") and commands[1].endswith("nox -s tests")


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci


def test_readme_snippets_are_the_tested_sample_files():
    text = (REPO / "README.md").read_text()
    for path in (
        REPO / "sample_models" / "model_repo" / "pytest.ini",
        REPO / "sample_models" / "model_repo" / "tests" / "test_model.py",
        REPO / "ci" / "examples" / "validate.yml",
    ):
        assert path.read_text().rstrip() in text, f"README's copy of {path.name} is stale"
