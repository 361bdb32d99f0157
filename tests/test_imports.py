"""Start-up stays light: the CLI and the public API import no heavy library."""

import json
import subprocess
import sys

HEAVY = ("tensorflow", "mlflow", "fairlearn", "kubernetes", "tf_keras", "sklearn")


def imported_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in json.loads(out.stdout)}


def test_cli_imports_no_heavy_library():
    assert not imported_after("import validate.cli") & set(HEAVY)


def test_public_api_imports_no_heavy_library():
    assert not imported_after("import validate") & set(HEAVY)


def test_help_runs_without_heavy_imports():
    code = (
        "import sys, json\nfrom validate.cli import main\ntry:\n    main(['--help'])\n"
        "except SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}
    assert not modules & set(HEAVY)
