"""Error texts that say what to write instead (issue 14 item 9): missing columns with a
count, close names and sensitive-looking columns first; unknown keys with the valid ones;
``validate schema`` with every installed check's settings."""

import json

import pytest
from click.testing import CliRunner
from conftest import base_config

from validate.cli import cli
from validate.config import json_schema
from validate.data import columns_hint, looks_sensitive
from validate.errors import ConfigError

COLUMNS = [
    "id",
    "income",
    "debt_ratio",
    "applicant_sex",
    "Gender",
    "AgeGroup",
    "page_views",
    "race_ethnicity",
    "label",
    *(f"f{i}" for i in range(31)),
]


def test_a_missing_sensitive_column_lists_the_sensitive_looking_ones_first():
    assert columns_hint(["sex"], COLUMNS, field="data.eval") == (
        "did you mean 'applicant_sex'? data.eval has 40 columns; available (sensitive-looking "
        "first): applicant_sex, Gender, AgeGroup, race_ethnicity, id … and 35 more"
    )


def test_a_misspelled_column_gets_close_names_and_the_count():
    assert columns_hint(["incme"], COLUMNS, field="data.eval") == (
        "did you mean 'income'? data.eval has 40 columns; available: id, income, debt_ratio, "
        "applicant_sex, Gender … and 35 more"
    )
    assert columns_hint(["INCOME", "dept_ratio"], COLUMNS, field="data.reference") == (
        "did you mean 'income' for 'INCOME', 'debt_ratio' for 'dept_ratio'? data.reference has "
        "40 columns; available: id, income, debt_ratio, applicant_sex, Gender … and 35 more"
    )


def test_no_guess_and_no_ellipsis_when_nothing_is_close_or_cut():
    assert columns_hint(["zzz"], ["a", "b"], field="data.eval") == (
        "data.eval has 2 columns; available: a, b"
    )
    assert columns_hint(["zzz"], ["sex"], field="data.eval", sensitive=True) == (
        "data.eval has 1 column; available (sensitive-looking first): sex"
    )


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("sex", True),
        ("Gender", True),
        ("age_group", True),
        ("AgeGroup", True),
        ("applicant_race", True),
        ("ethnicity", True),
        ("religious_affiliation", True),
        ("marital_status", True),
        ("page", False),
        ("usage", False),
        ("agent_id", False),
        ("grace_period", False),
        ("income", False),
    ],
)
def test_sensitive_looking_names_are_matched_on_words(name, sensitive):
    assert looks_sensitive(name) is sensitive


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"thresholds": {"roc_auc": {"maximum": 0.9}}},
            "checks.accuracy.thresholds.roc_auc: unknown key 'maximum'; valid keys: min, max, "
            "judge; did you mean 'max'?",
        ),
        (
            {"thresholds": {"roc_auc": {"upper": 0.9}}},
            "checks.accuracy.thresholds.roc_auc: unknown key 'upper'; valid keys: min, max, judge",
        ),
        (
            {"vs_baseline": {"roc_auc": {"max_dorp": 0.01}}},
            "checks.accuracy.vs_baseline.roc_auc: unknown key 'max_dorp'; valid keys: "
            "max_drop, min_gain; did you mean 'max_drop'?",
        ),
    ],
)
def test_an_unknown_threshold_key_lists_the_valid_ones(section, message):
    from checks.accuracy import AccuracyCheck

    with pytest.raises(ConfigError) as caught:
        AccuracyCheck.from_config("accuracy", section, task="binary")
    assert str(caught.value) == message


def test_an_unknown_bias_threshold_key_lists_the_valid_ones():
    from checks.bias import BiasCheck

    section = {
        "sensitive_features": ["group"],
        "thresholds": {"demographic_parity_difference": {"maximum": 0.1}},
    }
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'maximum'; valid keys: min, max, judge; did you mean 'max'\?$",
    ):
        BiasCheck.from_config("bias", section, task="binary")


@pytest.fixture(scope="module")
def schema():
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_schema_lists_every_installed_checks_settings(schema):
    from validate.registry import available_checks

    checks = schema["properties"]["checks"]["properties"]
    assert set(available_checks()) <= set(checks)
    accuracy = checks["accuracy"]["anyOf"][0]
    assert {"thresholds", "vs_baseline", "confidence", "blocking", "timeout_seconds"} <= set(
        accuracy["properties"]
    )
    thresholds = accuracy["properties"]["thresholds"]
    assert {"roc_auc", "accuracy", "log_loss", "rmse"} <= set(thresholds["properties"])
    assert "roc_auc" in thresholds["propertyNames"]["enum"]
    bound = thresholds["properties"]["roc_auc"]["$ref"].removeprefix("#/$defs/")
    assert set(schema["$defs"][bound]["properties"]) == {"min", "max", "judge"}


def test_schema_judges_configs_as_the_loader_does(schema, data_dir, models_dir):
    """jsonschema as the reference: a good config validates; a misspelled bound key and an
    unknown metric name are flagged where an editor would underline them."""
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema)
    good = base_config(
        data_dir,
        models_dir,
        **{
            "checks.accuracy": {
                "thresholds": {"roc_auc": {"min": 0.7, "judge": "lower_ci"}},
                "vs_baseline": {"roc_auc": {"max_drop": 0.01}},
                "blocking": False,
            },
            "checks.drift": None,
        },
    )
    assert list(validator.iter_errors(good)) == []
    for bad in (
        {"thresholds": {"roc_auc": {"maximum": 0.9}}},
        {"thresholds": {"roc_acu": {"min": 0.9}}},
        {"confidence": 2},
        {"blocking": "no"},
    ):
        config = base_config(data_dir, models_dir, **{"checks.accuracy": bad})
        assert list(validator.iter_errors(config)), bad


def test_a_check_that_cannot_load_is_listed_without_settings():
    schema = json_schema({"broken": "check 'broken' (x:Y) failed to import: no module x"})
    (entry, null) = schema["properties"]["checks"]["properties"]["broken"]["anyOf"]
    assert null == {"type": "null"}
    assert entry["description"].startswith("check 'broken' (x:Y) failed to import")
    assert set(entry["properties"]) == {"blocking", "timeout_seconds"}


def test_a_bias_sensitive_feature_missing_from_eval_gets_the_hint(data_dir, models_dir, tmp_path):
    config = base_config(
        data_dir,
        models_dir,
        checks={"bias": {"sensitive_features": ["gruop"]}},
    )
    path = tmp_path / "validation.yaml"
    path.write_text(json.dumps(config))
    result = CliRunner().invoke(cli, ["run", "-c", str(path)])
    assert result.exit_code == 2
    assert (
        "checks.bias: column(s) gruop not in data.eval; did you mean 'group'? data.eval has "
        in result.output
    )
    assert "data.eval has 7 columns; available: x1, x2, x3, label, group … and 2 more" in (
        result.output
    )
