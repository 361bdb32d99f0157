"""The README against the project: its two commands are the ones CI runs, its snippets
are the tested files, its sample output has the demo's shape (tests/test_demo.py
compares it with a real run)."""

import ast
import re
import textwrap

import numpy as np
import pytest
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


def test_readme_tree_model_step_is_what_mlflow_and_validate_need(tmp_path):
    """The README's skops_trusted_types line is what MLflow 3 needs to save a forest,
    and validate's loader then scores it (MLflow keeps the list in MLmodel)."""
    import mlflow.sklearn
    from conftest import FEATURES, make_frame
    from sklearn.ensemble import RandomForestClassifier

    from validate.models.adapter import resolve_model

    text = (REPO / "README.md").read_text()
    (line,) = [x for x in text.splitlines() if x.startswith("mlflow.sklearn.log_model(")]
    trusted = ast.literal_eval(re.search(r"skops_trusted_types=(\[[^\]]*\])", line).group(1))
    train = make_frame(400, seed=1)
    forest = RandomForestClassifier(n_estimators=5, random_state=0)
    forest.fit(train[FEATURES], train["label"])
    with pytest.raises(Exception, match="skops_trusted_types"):
        mlflow.sklearn.save_model(forest, str(tmp_path / "untrusted"))
    mlflow.sklearn.save_model(forest, str(tmp_path / "forest"), skops_trusted_types=trusted)
    model = resolve_model(str(tmp_path / "forest"), role="candidate", task="binary")
    scores = model.predict(train, tuple(FEATURES))
    np.testing.assert_allclose(scores, forest.predict_proba(train[FEATURES])[:, 1])


DEMO_OUTPUT_START = "<!-- demo-output:"
DEMO_OUTPUT_END = "<!-- /demo-output -->"


def readme_demo_output() -> str:
    """The README's sample demo output: the fenced block between the demo-output markers."""
    text = (REPO / "README.md").read_text()
    between = text.split(DEMO_OUTPUT_START, 1)[1].split(DEMO_OUTPUT_END, 1)[0]
    return re.search(r"```\n(.*?)```", between, re.S).group(1)


def output_structure(text: str) -> list[tuple[str, ...]]:
    """What a console report says, without its numbers: each table's header, every check
    row's name, status and blocking flag, every remediation metric's name (and the
    decision row's values), the verdict, which checks block it, whether there are
    warnings, and whether the alias moved. Repeated warning lines count as one: how
    many there are may change with wording, the fact that there are may not."""
    shape: list[tuple[str, ...]] = []
    table = None
    for raw in text.splitlines():
        line = raw.strip()
        words = line.split()
        if not words or any(word.endswith(":") for word in words[:2]):
            table = None  # a blank line or a "label: …" line ends a table
        if not words:
            continue
        if words[0] in ("CHECK", "METRIC") and len(words) > 2 and words[1] in ("STATUS", "BEFORE"):
            table = words[0]
            shape.append(("table", *words[:4]))
        elif table == "CHECK":
            shape.append(("check", *words[:3]))
        elif table == "METRIC":
            shape.append(("metric", *(words[:3] if words[0] == "decision" else words[:1])))
        elif line.startswith("decision:"):
            shape.append(("decision", words[1]))
        elif line.startswith("blocked by"):
            status, check = re.match(r"blocked by (\w+): ([\w.-]+):?", line).groups()
            shape.append(("blocked by", status, check))
        elif line.startswith("warning:"):
            if shape[-1:] != [("warning",)]:
                shape.append(("warning",))
        elif line.startswith("promotion:"):
            shape.append(("promotion", "not promoted" if "not promoted" in line else "moved"))
    return shape


def test_readme_sample_output_is_delimited_and_parses():
    """The demo test relies on this block; keep its markers and its three reports."""
    shape = output_structure(readme_demo_output())
    tables = [entry[1] for entry in shape if entry[0] == "table"]
    assert tables == ["CHECK", "CHECK", "METRIC"]
    assert [entry for entry in shape if entry[0] == "decision"] == [
        ("decision", "FAIL"),
        ("decision", "PASS"),
    ]
    assert ("metric", "decision", "fail", "pass") in shape
    assert ("promotion", "moved") in shape and ("promotion", "not promoted") in shape


def test_readme_spark_engine_examples_are_valid_settings():
    """Every ``engine:`` block in the Spark section (local cluster, Kubernetes) parses as
    the engine setting validation.yaml accepts."""
    import yaml

    from validate.engine_settings import SparkEngine

    text = (REPO / "README.md").read_text()
    section = text.split("## Validating data that does not fit one machine", 1)[1]
    section = section.split("\n## ", 1)[0]
    engines = []
    for _indent, block in re.findall(r"^( *)```yaml\n(.+?)\n\1```", section, flags=re.S | re.M):
        loaded = yaml.safe_load(textwrap.dedent(block))
        if isinstance(loaded, dict) and "engine" in loaded:
            engines.append(SparkEngine.model_validate(loaded["engine"]))
    masters = [engine.master for engine in engines]
    assert any(m.startswith("spark://") for m in masters), masters
    assert any(m.startswith("k8s://https://") for m in masters), masters
    kubernetes = next(e for e in engines if e.master.startswith("k8s://"))
    assert kubernetes.conf["spark.submit.deployMode"] == "client"
    assert kubernetes.conf["spark.kubernetes.container.image"]
