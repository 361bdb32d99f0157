"""Models from outside the repository (and the registry) get a one-line notice: loading a
model runs its code."""

from __future__ import annotations

import shutil
import subprocess

from conftest import base_config, register_champion, run_cli

from validate.models.adapter import resolve_model
from validate.tracking import GitCheckout, git_checkout
from validate.trust import foreign_model_notices


def test_notice_names_a_model_from_outside_the_repository(
    tmp_path, data_dir, models_dir, write_config
):
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert git_checkout(repo / "sub") == GitCheckout(root=repo.resolve(), commit=None)
    shutil.copytree(models_dir / "good", repo / "model")

    inside = base_config(data_dir, models_dir, **{"model.candidate": str(repo / "model")})
    config = repo / "sub" / "validation.yaml"
    config.write_text(write_config(inside).read_text())
    done = run_cli("run", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert "notice:" not in done.stdout + done.stderr

    outside = base_config(data_dir, models_dir)  # the session's models folder, elsewhere
    config.write_text(write_config(outside).read_text())
    done = run_cli("run", "-c", str(config))
    assert done.returncode == 0, done.stderr
    (line,) = [n for n in done.stdout.splitlines() if n.startswith("notice:")]
    assert (
        f"model.candidate {models_dir / 'good'} is outside this repository ({repo.resolve()})"
        in line
    )
    assert "runs its code" in line and "SECURITY.md" in line
    assert done.stderr == ""


def test_registry_models_and_score_columns_get_no_notice(tmp_path, models_dir):
    register_champion(models_dir / "good")
    registered = resolve_model("models:/credit@champion", role="baseline", task="binary")
    local = resolve_model(str(models_dir / "good"), role="candidate", task="binary")
    assert foreign_model_notices((registered, None), tmp_path) == []
    (notice,) = foreign_model_notices((local, registered), tmp_path)
    assert notice.startswith(f"model.candidate {models_dir / 'good'} is outside")


def test_git_checkout_reads_root_and_commit_in_one_call(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert git_checkout(repo) == GitCheckout(root=repo.resolve(), commit=head)
