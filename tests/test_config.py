import json

import pytest
from conftest import base_config

from validate.config import load_config
from validate.errors import ConfigError


def test_valid_config_loads_and_resolves_paths(write_config, data_dir, models_dir):
    config = base_config(data_dir, models_dir)
    config["data"]["eval"] = "data/eval.parquet"  # relative to the config file
    loaded = load_config(write_config(config))
    assert loaded.config.data.task == "binary"
    assert loaded.resolve("data/eval.parquet") == str(data_dir / "eval.parquet")
    assert loaded.resolve("models:/credit@champion") == "models:/credit@champion"
    assert len(loaded.digest) == 64


def test_config_hash_is_stable(write_config, data_dir, models_dir):
    a = load_config(write_config(base_config(data_dir, models_dir), "a.yaml"))
    b = load_config(write_config(base_config(data_dir, models_dir), "b.yaml"))
    assert a.digest == b.digest


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"data.task": "ranking"},
            "data.task: Input should be 'binary', 'multiclass' or 'regression'",
        ),
        ({"data.colour": "red"}, "data: unknown key 'colour'; valid keys: eval, reference, train"),
        ({"data.threshold": 1.5}, "data.threshold: Input should be less than 1"),
        ({"executor": "slurm"}, "executor: Input should be 'local' or 'kubernetes'"),
        ({"version": 2}, "version: Input should be 1"),
        ({"checks": {}}, "checks is empty"),
        ({"data.features": ["x1", "x1"]}, "features names x1 more than once"),
    ],
)
def test_errors_name_the_yaml_path_and_choices(
    write_config, data_dir, models_dir, override, expected
):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(base_config(data_dir, models_dir, **override)))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_required_field(write_config, data_dir, models_dir, delete):
    with pytest.raises(ConfigError, match=r"data\.target: required but missing"):
        load_config(write_config(base_config(data_dir, models_dir, **{"data.target": delete})))


def test_yaml_syntax_error_gives_line(write_config):
    with pytest.raises(ConfigError, match=r"line 4, column 9: expected .,. or .\]."):
        load_config(write_config("version: 1\ndata:\n  eval: [unclosed\n  target: y\n"))


def test_non_mapping_document(write_config):
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write_config("- just\n- a list\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_json_schema_lists_sections():
    from validate.config import json_schema

    schema = json_schema()
    json.dumps(schema)
    assert {"model", "data", "checks", "mlflow", "promote"} <= set(schema["properties"])


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ("spark", "engine: unknown engine 'spark'; write local, or {kind: spark, master: URL"),
        ({"kind": "flink", "master": "x"}, "engine: unknown engine kind 'flink'"),
        ({"kind": "spark"}, "engine: master: required but missing"),
        ({"kind": "spark", "master": "local[2]", "cores": 2}, "engine: unknown key 'cores'"),
        (
            {"kind": "spark", "master": "local[2]", "conf": {"executor.memory": "1g"}},
            "engine: conf: not Spark properties: executor.memory",
        ),
        # Spark Connect has no RDD API: refused at load, not an internal error at start.
        (
            {"kind": "spark", "master": "sc://127.0.0.1:15002"},
            "engine: master: sc://127.0.0.1:15002 is a Spark Connect URL; the Spark engine "
            "needs a classic Spark session",
        ),
        (
            {"kind": "spark", "master": "local[2]", "conf": {"spark.remote": "sc://h:15002"}},
            "engine: conf: spark.remote asks for Spark Connect; the Spark engine needs a "
            "classic Spark session (it uses the RDD API, which Spark Connect lacks): remove it",
        ),
        (
            {"kind": "spark", "master": "local[2]", "conf": {"spark.api.mode": "Connect"}},
            "engine: conf: spark.api.mode: connect asks for Spark Connect",
        ),
    ],
)
def test_bad_engine_is_one_line(write_config, data_dir, models_dir, engine, expected):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(base_config(data_dir, models_dir, engine=engine)))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_engine_defaults_to_local_and_reads_spark(write_config, data_dir, models_dir):
    assert load_config(write_config(base_config(data_dir, models_dir))).config.engine == "local"
    spark = {
        "kind": "spark",
        "master": "spark://127.0.0.1:7077",
        "conf": {"spark.x": True, "spark.api.mode": "classic"},
    }
    engine = load_config(write_config(base_config(data_dir, models_dir, engine=spark))).config
    assert engine.engine.master == "spark://127.0.0.1:7077"
    # Spark properties are strings
    assert engine.engine.conf == {"spark.x": "true", "spark.api.mode": "classic"}


@pytest.mark.parametrize(
    "engine", ["hadoop", {"kind": "spark", "master": "spark://127.0.0.1:1"}], ids=["bad", "spark"]
)
def test_validate_run_with_an_engine_it_cannot_use_exits_2(
    write_config, data_dir, models_dir, engine
):
    """A bad engine, and engine: spark with a check it cannot compute yet (latency): exit 2,
    one line, before anything is opened or recorded (no Spark session is started)."""
    from conftest import run_cli

    latency = {"batch_sizes": [1]}
    config = write_config(
        base_config(data_dir, models_dir, engine=engine, **{"checks.latency": latency})
    )
    result = run_cli("run", "-c", str(config))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "engine" in result.stderr
