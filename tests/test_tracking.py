from validate.tracking import DEFAULT_TRACKING_URI, package_versions, redact_uri, tracking_uri_for


def test_tracking_uri_precedence(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri_for("sqlite:///x.db") == "sqlite:///x.db"
    assert tracking_uri_for(None) == "http://127.0.0.1:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking_uri_for(None) == DEFAULT_TRACKING_URI == "sqlite:///mlflow.db"


def test_credentials_never_leave_the_uri():
    assert (
        redact_uri("https://user:s3cret@mlflow.example:8443/path")
        == "https://mlflow.example:8443/path"
    )
    assert redact_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_package_versions_include_ours_and_mlflow():
    versions = package_versions()
    assert "validate-gate" in versions and "mlflow" in versions


def test_scrub_credentials_in_free_text():
    from validate.tracking import scrub_credentials

    text = (
        "GET https://u:p%40ss@host:5000/api failed; see http://plain/x and s3://key:secret@bucket/o"
    )
    assert (
        scrub_credentials(text)
        == "GET https://host:5000/api failed; see http://plain/x and s3://bucket/o"
    )
