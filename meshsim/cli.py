"""The `meshsim` command: parses arguments, calls the library, maps errors to
exit codes in one place (`main`). Output goes through meshsim.console.

Exit codes: 0 every expectation held · 1 an expectation failed · 2 bad input
or usage · 3 the mesh could not run · 130/143 interrupted by SIGINT/SIGTERM.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from meshsim import __version__
from meshsim.errors import MeshsimError, UsageError

app = typer.Typer(
    name="meshsim",
    help="A service mesh on your laptop: real Envoy sidecars, Istio's YAML, Locust load, "
    "and verdicts CI can trust.\n\nStart with:  meshsim up scenarios/baseline.yaml",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"meshsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """meshsim: a service mesh on your laptop."""


ScenarioArg = Annotated[
    Path,
    typer.Argument(help="Scenario file (YAML), e.g. scenarios/baseline.yaml.", show_default=False),
]


@app.command()
def up(
    scenario: ScenarioArg,
    runtime: Annotated[str, typer.Option(help="Where instances run: local or docker.")] = "local",
    report_dir: Annotated[
        Path | None, typer.Option(help="Where to write the reports (default: the run directory).")
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default: ./meshsim-runs/<run id>).")
    ] = None,
    keep: Annotated[
        bool,
        typer.Option(
            help="Leave the mesh running after the last phase; stop it with `meshsim down`."
        ),
    ] = False,
    ingress_port: Annotated[
        int | None,
        typer.Option(help="Local port of the ingress gateway (default 8080; 0 picks a free one)."),
    ] = None,
    time_scale: Annotated[
        float, typer.Option(help="Multiply every phase duration, e.g. 0.2 for a quick rehearsal.")
    ] = 1.0,
) -> None:
    """Start the mesh, run the scenario's phases under load, write the report, tear down.

    Example:  meshsim up scenarios/baseline.yaml --report-dir out/
    """
    from meshsim import console
    from meshsim.runner import RunOptions, run

    if runtime not in ("local",):
        raise UsageError(f"--runtime {runtime}: expected 'local' (docker is not available yet)")
    if time_scale <= 0:
        raise UsageError("--time-scale must be greater than zero")
    options = RunOptions(runtime, run_dir, report_dir, keep, ingress_port, time_scale)
    with console.ConsoleProgress() as progress:
        result = run(scenario, options, progress)
    if result.report is not None:
        console.print_report(result.report, result.report_files)
    if result.error:
        console.print_error(result.error)
    if result.status == "interrupted":
        console.print_error(f"interrupted; partial results are in {result.run_dir}")
    if options.keep and result.status == "completed":
        console.print_info(
            "the mesh is still running (--keep); `meshsim status` shows it, `meshsim down` stops it"
        )
    raise typer.Exit(result.exit_code)


@app.command()
def validate(scenario: ScenarioArg) -> None:
    """Check a scenario without running it: keys, types, durations, services,
    Istio resources and expectations.

    Example:  meshsim validate scenarios/canary.yaml
    """
    from meshsim import console
    from meshsim.scenario import load_scenario

    s = load_scenario(scenario)
    total = sum(p.duration for p in s.phases)
    console.print_info(f"{scenario}: OK — scenario {s.name!r}, {len(s.phases)} phases, {total:g}s")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show running meshes: every instance with its pid, app port, sidecar ports and health.

    Example:  meshsim status --json
    """
    from meshsim import console
    from meshsim.status import mesh_status

    meshes = mesh_status()
    if as_json:
        typer.echo(json.dumps(meshes, indent=2))
        return
    if not meshes:
        console.print_info("no mesh is running")
        return
    for mesh in meshes:
        console.print_table(
            f"{mesh['run_id']} ({mesh['status']}, ingress {mesh['ingress_url']})",
            ["component", "pid", "state", "app port", "inbound", "outbound", "admin", "health"],
            [
                [
                    c["name"],
                    str(c["pid"] or "-"),
                    c["state"],
                    str(c.get("app_port", "-")),
                    str(c.get("inbound_port", "-")),
                    str(c.get("outbound_port", "-")),
                    str(c.get("admin_port", "-")),
                    c.get("health", "-"),
                ]
                for c in mesh["components"]
            ],
        )


@app.command()
def down() -> None:
    """Stop every mesh meshsim started here: kept ones and leftovers of killed runs.

    Example:  meshsim down
    """
    from meshsim import console
    from meshsim.status import stop_all_meshes

    stopped = stop_all_meshes()
    if not stopped:
        console.print_info("nothing to stop")
    for run_id, names in stopped:
        console.print_info(f"stopped {run_id}: {len(names)} processes")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from `meshsim up`.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write (default: the run directory).")
    ] = None,
) -> None:
    """Render the reports again from a finished or interrupted run.

    Example:  meshsim report meshsim-runs/20261126-120000-baseline-ab12
    """
    from meshsim import console
    from meshsim.report import build_report, write_reports

    if not (run_dir / "run.json").exists():
        raise UsageError(f"{run_dir}: not a meshsim run directory (no run.json)")
    rep = build_report(run_dir)
    files = write_reports(rep, out or run_dir)
    console.print_report(rep, files)
    raise typer.Exit(rep.exit_code)


@app.command()
def config(
    instance: Annotated[
        str,
        typer.Argument(help="A proxy: an instance such as product-v1-0, or istio-ingressgateway."),
    ],
    kind: Annotated[
        str, typer.Option(help="What to show: all, listeners, clusters, routes, bootstrap.")
    ] = "all",
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default: the running mesh).")
    ] = None,
) -> None:
    """Print the Envoy configuration the control plane gave a sidecar.

    Example:  meshsim config order-v1-0 --kind routes
    """
    from meshsim.status import proxy_config

    typer.echo(proxy_config(instance, kind, run_dir))


def main() -> None:
    """Entry point: runs the Typer app and maps meshsim errors to exit codes."""
    try:
        # Without standalone mode click returns typer.Exit's code instead of exiting.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except MeshsimError as exc:
        from meshsim import console

        console.print_error(str(exc))
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
