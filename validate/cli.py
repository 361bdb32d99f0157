"""The ``validate`` command: a thin click group. Each command parses, calls the library,
and maps the outcome to an exit code (0 pass, 1 gate failed, 2 bad input, 3 error)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from validate._install_check import foreign_validate_problem
from validate._version import __version__
from validate.errors import ConfigError, ValidateError
from validate.gate import EXIT_ERROR, EXIT_USAGE


def _fail(message: str, code: int) -> NoReturn:
    from validate.control import finish
    from validate.log_lines import echo
    from validate.tracking import scrub_credentials

    echo(f"validate: error: {scrub_credentials(message)}", kind="problem", level="error", err=True)
    finish(code)


def _print_traceback() -> None:
    """--debug: the traceback, with any credentials in URLs removed."""
    from validate.tracking import scrubbed_traceback

    click.echo(scrubbed_traceback(), err=True)


def _guarded(debug: bool, action: Callable[[], int]) -> NoReturn:
    """Run ``action``; turn every failure into one line and an exit code.

    Only a returned code is an outcome; ``SystemExit`` raised by model or plug-in code on
    the way is an error (exit 3), never its own code.
    """
    from validate.control import finish
    from validate.interrupts import Interrupted, install_handlers, is_real_interrupt

    _quiet_libraries(debug)
    install_handlers()
    try:
        code = action()
    except ValidateError as exc:
        if debug:
            _print_traceback()
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted) or is_real_interrupt(exc):
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            from validate.log_lines import echo

            echo(
                f"validate: interrupted ({signal.Signals(signum).name}); nothing was promoted",
                kind="problem",
                level="error",
                err=True,
            )
            finish(128 + signum)
        _fail(
            "model or plug-in code raised KeyboardInterrupt outside a check; nothing was "
            "promoted; re-run with --debug",
            EXIT_ERROR,
        )
    except SystemExit as exc:
        if debug:
            _print_traceback()
        _fail(
            f"model or plug-in code called sys.exit({exc.code!r}) outside a check; nothing was "
            "promoted; re-run with --debug",
            EXIT_ERROR,
        )
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        if debug:
            _print_traceback()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(
            f"internal error: {type(exc).__name__}: {first[:300]} (re-run with --debug for "
            "the traceback)",
            EXIT_ERROR,
        )
    finish(code)


def _quiet_libraries(debug: bool) -> None:
    """MLflow logs INFO lines (database migrations, registrations) to stderr; users should
    see our lines only, unless they asked for --debug."""
    import logging

    from validate.log_lines import set_debug

    set_debug(debug)
    level = "DEBUG" if debug else "WARNING"
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", level)
    logging.getLogger("mlflow").setLevel(level)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if debug else "2")
    if not debug:
        # Libraries warn while loading a user's model (MLflow's type-hint advice, pip
        # versions) and reset warning filters as they import; route every warning to a
        # silenced logger instead: advice for the model's author, shown with --debug.
        logging.captureWarnings(True)
        logging.getLogger("py.warnings").setLevel(logging.ERROR)
        logging.getLogger("py.warnings").propagate = False


def config_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``-c/--config`` option every command that reads a validation.yaml takes."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        required=True,
        type=click.Path(),  # folders, pipes and devices get load_config's one-line message
        help=help_text,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="validate")
def cli() -> None:
    """Validate ML models before they ship: accuracy, fairness, drift and latency gates."""


@cli.command()
@config_option("Path to validation.yaml.")
@click.option(
    "--check",
    "only_checks",
    multiple=True,
    metavar="NAME",
    help="Run only this check (repeatable).",
)
@click.option(
    "--jobs",
    "-j",
    default=1,
    show_default=True,
    type=int,
    help="Run checks in N worker processes.",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Write the JSON report here."
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(dir_okay=False),
    help="Write JUnit XML here (one testcase per check).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    help="Write a self-contained HTML report here.",
)
@click.option("--promote", is_flag=True, help="Move the registry alias to the candidate on pass.")
@click.option(
    "--executor", type=click.Choice(["local", "kubernetes"]), help="Override the config's executor."
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: every line one JSON object with the run's trace and span ids.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def run(
    config_path: str,
    only_checks: tuple[str, ...],
    jobs: int,
    json_path: str | None,
    junit_path: str | None,
    html_path: str | None,
    promote: bool,
    executor: str | None,
    log_format: str,
    debug: bool,
) -> None:
    """Run the configured checks, record them in MLflow, and gate promotion."""
    from validate.control import finish

    request = {
        "config_path": config_path,
        "only_checks": list(only_checks),
        "jobs": jobs,
        "json_path": json_path,
        "junit_path": junit_path,
        "html_path": html_path,
        "promote": promote,
        "executor": executor,
        "debug": debug,
        "log_format": log_format,
        "colour": sys.stdout.isatty() and log_format == "text",
        "progress": sys.stderr.isatty() and not os.environ.get("CI"),
    }
    if jobs < 1:
        _fail(f"--jobs {jobs}: must be 1 or more", EXIT_USAGE)
    from validate.supervisor import supervise

    finish(supervise(request))


def run_supervised(request: dict[str, Any]) -> NoReturn:
    """The body of ``validate run``, in the supervised child (see validate/_run_child.py)."""

    from validate import log_lines

    if request.get("log_format") == "json":
        from validate.telemetry import want_trace_ids

        log_lines.set_format("json")
        want_trace_ids()

    def action() -> int:
        from validate.prefetch import start_early

        # The data files decode while the imports below run (on a run of the statistics
        # alone they waited on the imports, then the run waited on them).
        start_early(request["config_path"])
        from validate.control import send
        from validate.reporting.console import render_console
        from validate.runner import RunRequest, run_validation

        run_request = RunRequest(
            config_path=request["config_path"],
            only_checks=tuple(request["only_checks"]),
            jobs=request["jobs"],
            json_path=request["json_path"],
            junit_path=request["junit_path"],
            html_path=request["html_path"],
            promote=request["promote"],
            executor=request["executor"],
            notify=lambda line: log_lines.echo(f"notice: {line}", kind="notice"),
            progress=lambda line: log_lines.echo(f"kubernetes: {line}", kind="kubernetes"),
        )
        printer = _progress_printer() if request["progress"] else None

        def on_result(result: Any) -> None:
            send("check_finished", name=result.name, result=_safe_dict(result))
            if printer is not None:
                with contextlib.suppress(OSError, ValueError):
                    printer(result)

        outcome = run_validation(run_request, on_result=on_result)
        # The outcome is decided (and may include a promotion): a console that cannot be
        # written to (model code closed it) must not turn it into a different exit code.
        with contextlib.suppress(OSError, ValueError):
            log_lines.echo(
                render_console(
                    outcome.results,
                    outcome.decision,
                    outcome.promotion,
                    run_id=outcome.run_id,
                    colour=request["colour"],
                ),
                kind="report",
            )
        if outcome.problem:
            from validate.tracking import scrub_credentials

            with contextlib.suppress(OSError, ValueError):
                kind = "warning" if outcome.exit_code == 0 else "error"  # promoted, say what
                log_lines.echo(
                    f"validate: {kind}: {scrub_credentials(outcome.problem)}",
                    kind="problem",
                    level="warning" if outcome.exit_code == 0 else "error",
                    err=True,
                )
        return outcome.exit_code

    _guarded(request["debug"], action)


def _safe_dict(result: Any) -> dict[str, Any]:
    """A check result for the supervisor's crash report (NaN and inf become null)."""
    from validate.reporting.json_report import json_safe

    entry = json_safe(result.to_dict())
    entry.get("details", {}).pop("traceback", None)
    return entry


def _progress_printer() -> Callable[[Any], None]:
    """Per-check progress with elapsed time (on an interactive terminal; silent in CI logs)."""
    import time

    started = time.monotonic()

    def show(result: Any) -> None:
        from validate.log_lines import echo

        echo(
            f"  [{time.monotonic() - started:6.1f} s] {result.name}: {result.status.value}",
            kind="progress",
            err=True,
        )

    return show


@cli.command("promote")
@click.argument("run_id")
@click.option(
    "--tracking-uri",
    help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Refuse unless the run validated this config (compared by hash).",
)
@click.option("--model-uri", help="Refuse unless the run validated exactly this model version.")
@click.option(
    "--dry-run", is_flag=True, help="Check everything, say what would happen, change nothing."
)
@click.option(
    "--require-signature",
    is_flag=True,
    help="Refuse unless the decision record's Ed25519 signature verifies (VALIDATE_VERIFY_KEY).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def promote_command(
    run_id: str,
    tracking_uri: str | None,
    config_path: str | None,
    model_uri: str | None,
    dry_run: bool,
    require_signature: bool,
    debug: bool,
) -> None:
    """Promote the candidate of an already recorded, passing validation run."""

    def action() -> int:
        from validate.promotion_step import promote_recorded_run
        from validate.telemetry import promote_span

        with promote_span(run_id, dry_run=dry_run) as told:
            outcome = promote_recorded_run(
                run_id,
                tracking_uri,
                config_path=config_path,
                model_uri=model_uri,
                dry_run=dry_run,
                require_signature=require_signature,
            )
            told(outcome)
        click.echo(f"promotion: {outcome['message']}")
        return 0

    _guarded(debug, action)


@cli.command("operator")
@click.option(
    "--namespace",
    required=True,
    help="Namespace whose ModelValidations to reconcile (the Jobs run there too).",
)
@click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    required=True,
    help="MLflow tracking server for every validation (default: $MLFLOW_TRACKING_URI).",
)
@click.option("--liveness", help="Serve a liveness endpoint, e.g. http://0.0.0.0:8080/healthz.")
@click.option(
    "--admission-port",
    type=click.IntRange(1, 65535),
    help="Serve the validating admission webhook (HTTPS, self-signed) on this port.",
)
@click.option("--admission-address", default="0.0.0.0", show_default=True, help="Its address.")
@click.option(
    "--admission-host",
    help="The name the API server calls the webhook by, put in its certificate "
    "(default: validate-operator.NAMESPACE.svc).",
)
@click.option(
    "--admission-config",
    default="validate-admission",
    show_default=True,
    help="The ValidatingWebhookConfiguration whose CA bundle the operator keeps current.",
)
@click.option(
    "--admission-url",
    is_flag=True,
    help="Point that configuration at https://HOST:PORT/ instead of the install's Service "
    "(an operator outside the cluster, as in the tests).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve Prometheus metrics on /metrics on this port.",
)
@click.option("--metrics-address", default="0.0.0.0", show_default=True, help="Its address.")
@click.option(
    "--peering",
    metavar="NAME",
    help="Run as one of several replicas: act only while no older replica sharing the "
    "KopfPeering NAME lives (ci/operator ships 'validate-operator'). Without it the "
    "operator runs standalone: run exactly one.",
)
@click.option(
    "--peering-lifetime",
    type=click.IntRange(5, 3600),
    default=60,
    show_default=True,
    help="Seconds a silent replica counts as alive (a killed one's successor waits this long).",
)
@click.option(
    "--registry-webhook-port",
    type=click.IntRange(1, 65535),
    help="Receive MLflow registry webhooks on /mlflow-webhook at this port, verified with "
    "the secret in $VALIDATE_REGISTRY_WEBHOOK_SECRET (required with it).",
)
@click.option(
    "--registry-webhook-address", default="0.0.0.0", show_default=True, help="Its address."
)
@click.option(
    "--registry-webhook-tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve it over HTTPS with this certificate (PEM; with --registry-webhook-tls-key).",
)
@click.option(
    "--registry-webhook-tls-key",
    type=click.Path(exists=True, dir_okay=False),
    help="The certificate's private key (PEM).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def operator_command(
    namespace: str,
    tracking_uri: str,
    liveness: str | None,
    admission_port: int | None,
    admission_address: str,
    admission_host: str | None,
    admission_config: str,
    admission_url: bool,
    metrics_port: int | None,
    metrics_address: str,
    peering: str | None,
    peering_lifetime: int,
    registry_webhook_port: int | None,
    registry_webhook_address: str,
    registry_webhook_tls_cert: str | None,
    registry_webhook_tls_key: str | None,
    debug: bool,
) -> None:
    """Run the Kubernetes operator for ModelValidation resources (needs the operator extra)."""

    def action() -> int:
        from validate.config import check_tracking_uri

        try:
            check_tracking_uri(tracking_uri)
        except ValueError as exc:
            raise ConfigError(f"--tracking-uri: {exc}") from exc
        if bool(registry_webhook_tls_cert) != bool(registry_webhook_tls_key):
            raise ConfigError(
                "--registry-webhook-tls-cert and --registry-webhook-tls-key go together"
            )
        if registry_webhook_port is not None and not os.environ.get(
            "VALIDATE_REGISTRY_WEBHOOK_SECRET"
        ):
            raise ConfigError(
                "--registry-webhook-port: VALIDATE_REGISTRY_WEBHOOK_SECRET is not set; give "
                "the operator the secret MLflow signs its webhooks with (a Secret, in a cluster)"
            )
        try:
            from validate.operator.handlers import Admission, Peering
            from validate.operator.handlers import run as run_operator
            from validate.operator.registry_webhook import Serving
        except ImportError as exc:
            raise ConfigError(
                f"validate operator needs kopf, the kubernetes client and prometheus-client "
                f"({exc.name} is missing); pip install 'validate-gate[operator]'"
            ) from exc
        admission = None
        if admission_port is not None:
            admission = Admission(
                port=admission_port,
                address=admission_address,
                host=admission_host or f"validate-operator.{namespace}.svc",
                configuration=admission_config or None,
                by_url=admission_url,
            )
        run_operator(
            namespace=namespace,
            tracking_uri=tracking_uri,
            liveness=liveness,
            admission=admission,
            metrics_address=None if metrics_port is None else (metrics_address, metrics_port),
            peering=None if peering is None else Peering(peering, peering_lifetime),
            registry_webhook=None
            if registry_webhook_port is None
            else Serving(
                port=registry_webhook_port,
                address=registry_webhook_address,
                tls_cert=registry_webhook_tls_cert,
                tls_key=registry_webhook_tls_key,
            ),
        )
        return 0

    _guarded(debug, action)


@cli.command("run-check", hidden=True)
@click.option("--inputs", "inputs_uri", required=True, help="MLflow URI of the inputs manifest.")
@click.option("--check", "check", required=True, help="The check to run.")
@click.option("--parent-run", required=True, help="The validation's MLflow run id.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def run_check(inputs_uri: str, check: str, parent_run: str, debug: bool) -> None:
    """(Inside a Kubernetes Job.) Run one check from staged inputs; hand back its result."""

    def action() -> int:
        from validate.executors.pod import run_check_in_pod

        run_check_in_pod(inputs_uri, check, parent_run)
        return 0

    _guarded(debug, action)


@cli.command()
@click.argument("report", type=click.Path(dir_okay=False))
@click.option(
    "--tracking-uri",
    help="MLflow tracking URI (default: --config's, then $MLFLOW_TRACKING_URI; never the "
    "report's).",
)
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False),
    help="The validation.yaml the run used; its mlflow.tracking_uri is used when "
    "--tracking-uri is not given.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def sync(report: str, tracking_uri: str | None, config_path: str | None, debug: bool) -> None:
    """Record in MLflow a validation that ran while MLflow was unreachable (exit 3).

    A synced run is evidence, never promotable: validate the candidate again to promote."""

    def action() -> int:
        from validate.sync import describe, sync_report

        lines = describe(sync_report(report, tracking_uri, config_path=config_path)).splitlines()
        click.echo(lines[0])
        for warning in lines[1:]:
            click.echo(warning, err=True)
        return 0

    _guarded(debug, action)


@cli.command()
@config_option("validation.yaml with a Keras candidate, data.train and a mindiff section.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for remediated.keras, the configs and both reports.",
)
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def remediate(config_path: str, out: str, jobs: int, debug: bool) -> None:
    """Retrain a Keras candidate with MinDiff; validate it before and after."""

    def action() -> int:
        from validate.remediation import remediate as run_remediation

        outcome = run_remediation(config_path, out, jobs=jobs)
        click.echo(outcome.table())
        click.echo(f"remediated model: {outcome.model_path}")
        return 0

    _guarded(debug, action)


@cli.command("github-report", hidden=True)
@click.argument("report_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--config", "config_path", help="Config file the annotations point at.")
@click.option("--junit", "junit_path", default="", help="JUnit path, for the step outputs.")
@click.option("--html", "html_path", default="", help="HTML path, for the step outputs.")
def github_report(
    report_path: str, config_path: str | None, junit_path: str, html_path: str
) -> None:
    """(For ci/action.yml.) Step summary, annotations and outputs from a JSON report."""
    import json
    from pathlib import Path

    from validate.reporting.github import publish

    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    paths = {"json": report_path, "junit": junit_path, "html": html_path}
    for command in publish(report, config_path=config_path, paths=paths):
        click.echo(command)


@cli.group("checks")
def checks_group() -> None:
    """Inspect installed checks."""


@checks_group.command("list")
def checks_list() -> None:
    """List installed checks (entry-point group validate.checks) without importing them."""
    from validate.registry import available_checks

    found = available_checks()
    if not found:
        click.echo("no checks installed")
        return
    width = max(len(name) for name in found)
    for name, entry_point in found.items():
        dist = entry_point.dist.name if entry_point.dist else "?"
        click.echo(f"{name.ljust(width)}  {entry_point.value}  ({dist})")


@cli.command()
def schema() -> None:
    """Print the JSON Schema of validation.yaml, with each installed check's settings
    (thresholds, metric names), for editor completion."""
    import json

    from validate.config import json_schema
    from validate.errors import PluginError
    from validate.registry import available_checks, load_check_class

    settings: dict[str, Any] = {}
    for name, entry_point in available_checks().items():
        try:
            settings[name] = getattr(load_check_class(entry_point), "Settings", None)
        except PluginError as exc:  # the schema still lists the check, without its settings
            settings[name] = str(exc)
        if settings[name] is None:
            settings[name] = f"check '{name}' declares no Settings model"
    click.echo(json.dumps(json_schema(settings), indent=2))


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    problem = foreign_validate_problem()
    if problem:
        _fail(problem, EXIT_USAGE)
    return cli.main(args=argv, prog_name="validate")


if __name__ == "__main__":  # pragma: no cover
    main()
