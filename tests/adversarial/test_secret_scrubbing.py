"""Issue 13, item 16: credentials in URLs never reach a console line, a report or a
traceback, whatever the password contains (``@``, ``:``, percent escapes). And item 18's
"a 2,000-column mismatch error is one 16 KB line": what users see stays one short line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import base_config, run_cli
from mlflow_server import free_port

from validate.errors import DataError
from validate.tracking import redact_uri, scrub_credentials, scrubbed_traceback

PASSWORD = "s3cr@tTAIL-9q"  # the part after its @ is what leaked before
TAIL = "tTAIL-9q"


@pytest.mark.parametrize(
    ("uri", "redacted"),
    [
        (f"http://validator:{PASSWORD}@127.0.0.1:5000/api", "http://127.0.0.1:5000/api"),
        ("http://u:p@ss@host/", "http://host/"),
        ("https://u:a@b@c@host:1/x?q=1#f", "https://host:1/x?q=1#f"),
        ("http://only-user@host", "http://host"),
        ("http://:@host/", "http://host/"),
        ("http://u:p%40ss@host/", "http://host/"),
        ("mysql+pymysql://u:p@ss@db:3306/mlflow", "mysql+pymysql://db:3306/mlflow"),
        ("http://u:p@ss@host:notaport/", "http://host:notaport/"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
        ("http://host/path?email=a@b.c", "http://host/path?email=a@b.c"),
        ("models:/credit@champion", "models:/credit@champion"),
    ],
)
def test_item16_user_info_is_removed_whatever_it_contains(uri, redacted):
    assert redact_uri(uri) == redacted
    assert scrub_credentials(f"failed: GET {uri} (refused)") == f"failed: GET {redacted} (refused)"


def test_item16_scrub_credentials_handles_every_url_in_a_text():
    text = (
        f"HTTPConnectionPool: http://a:{PASSWORD}@h:1/x, then https://b:p@q@other/y; "
        f"'mlflow-artifacts://c:{PASSWORD}@store/z'"
    )
    scrubbed = scrub_credentials(text)
    assert TAIL not in scrubbed and "p@q" not in scrubbed and "s3cr" not in scrubbed
    assert "http://h:1/x" in scrubbed and "https://other/y" in scrubbed
    assert "mlflow-artifacts://store/z" in scrubbed


def test_item16_scrubbed_traceback_removes_credentials_from_chained_exceptions():
    def fail() -> None:
        try:
            raise ConnectionError(f"cannot reach http://validator:{PASSWORD}@127.0.0.1:1/api")
        except ConnectionError as exc:
            raise RuntimeError(f"loading https://u:{PASSWORD}@models.example/m failed") from exc

    try:
        fail()
    except RuntimeError as exc:
        handled = scrubbed_traceback()
        given = scrubbed_traceback(exc)
    for text in (handled, given):
        assert "Traceback" in text and "ConnectionError" in text and "RuntimeError" in text
        assert TAIL not in text and "s3cr" not in text
        assert "http://127.0.0.1:1/api" in text
    assert scrubbed_traceback() == ""  # nothing being handled


def test_item16_password_with_at_sign_never_printed(tmp_path, data_dir, models_dir, write_config):
    """An outage against a URI whose password holds ``@``: the console, the pending
    reason in the kept report and the sync attempt show no part of the password."""
    url = f"http://validator:{PASSWORD}@127.0.0.1:{free_port()}"  # nothing listens
    config = base_config(data_dir, models_dir)
    config["mlflow"]["tracking_uri"] = url
    report = tmp_path / "report.json"
    fast = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    done = run_cli("run", "-c", str(write_config(config)), "--json", str(report), env=fast)
    assert done.returncode == 3, done.stdout + done.stderr
    pending = json.loads(report.read_text())["mlflow"]["pending"]
    assert "127.0.0.1" in pending["reason"]
    synced = run_cli("sync", str(report), "--tracking-uri", url, "--debug", env=fast)
    assert synced.returncode == 3, synced.stdout + synced.stderr
    texts = {
        "run console": done.stdout + done.stderr,
        "report": report.read_text(),
        "sync console (--debug)": synced.stdout + synced.stderr,
    }
    for path in report.with_suffix(".artifacts").rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    for where, text in texts.items():
        assert TAIL not in text and "s3cr" not in text, f"password leaked into {where}"


def test_item18_two_thousand_column_mismatch_is_one_short_line(
    tmp_path, data_dir, models_dir, write_config
):
    eval_frame = pd.read_parquet(data_dir / "eval.parquet")
    wide = {f"feature_{i:04d}_{'x' * 200}": 0.0 for i in range(2000)}
    reference = pd.concat(
        [eval_frame[["label"]], pd.DataFrame(wide, index=eval_frame.index)], axis=1
    )
    reference.to_parquet(tmp_path / "reference.parquet", index=False)
    config = base_config(
        data_dir, models_dir, **{"data.reference": str(tmp_path / "reference.parquet")}
    )
    done = run_cli("run", "-c", str(write_config(config)))
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "data.reference: missing feature column(s) x1, x2, x3" in line
    assert "… and 1,996 more" in line  # 2,001 columns, 5 shown
    assert len(line) < 300 + len(str(tmp_path)), line


def test_item18_long_lists_in_data_errors_are_counted():
    from validate.data import _require, brief_list

    assert brief_list(["a", "b"]) == "a, b"
    assert brief_list([f"c{i}" for i in range(2000)]) == "c0, c1, c2, c3, c4 … and 1,995 more"
    assert brief_list(["n" * 500]) == "n" * 39 + "…"
    frame = pd.DataFrame({f"col{i}": [0] for i in range(2000)})
    with pytest.raises(DataError) as caught:
        _require(frame, [f"want{i}" for i in range(2000)], field="data.eval", what="feature")
    assert len(str(caught.value)) < 300
    assert str(caught.value).startswith("data.eval: missing feature column(s) want0, want1")


def test_item18_duplicate_header_lists_are_counted(tmp_path: Path):
    from validate.data import read_table

    header = ",".join([f"d{i}" for i in range(1000)] * 2)
    (tmp_path / "dup.csv").write_text(header + "\n" + ",".join(["0"] * 2000) + "\n")
    with pytest.raises(DataError) as caught:
        read_table(str(tmp_path / "dup.csv"), field="data.eval")
    message = str(caught.value)
    assert "duplicate column names ['d0', 'd1', 'd10', 'd100', 'd101' … and 995 more]" in message
    assert len(message) < 300 + len(str(tmp_path))
