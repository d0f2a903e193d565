"""`meshsim exercise list|start|hint|check`: the Typer commands, registered
by meshsim/cli.py with one `add_typer` line. Output goes through
meshsim.console (the one module that imports rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

exercise_app = typer.Typer(
    help="Workshop exercises: fix a scenario, and have meshsim judge why the fix works.",
    no_args_is_help=True,
)

Which = Annotated[str, typer.Argument(help="The exercise: its number or name.", metavar="N")]
Dir = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="Your copy of the exercise (default ./exercise-NN-name).", metavar="DIR"
    ),
]


@exercise_app.command("list")
def list_exercises() -> None:
    """The exercises, with the notebook section each practises.

    Example:  meshsim exercise list
    """
    from meshsim import console
    from meshsim.exercise.catalog import exercises

    rows = [[str(e.number), e.title, e.topic, e.pointer] for e in exercises()]
    console.print_table("exercises", ["#", "exercise", "topic", "read first"], rows)
    console.print_info("start one: meshsim exercise start N")


@exercise_app.command("start")
def start(
    which: Which,
    directory: Dir = None,
    force: Annotated[bool, typer.Option(help="Start over: overwrite your scenario.")] = False,
) -> None:
    """Copy exercise N's scenario and its task (TASK.md) into DIR, never its solution.

    Example:  meshsim exercise start 3 && cat exercise-03-retries-vs-faults/TASK.md
    """
    from meshsim import console
    from meshsim.exercise.catalog import find_exercise
    from meshsim.exercise.catalog import start as copy_start

    ex = find_exercise(which)
    dest = copy_start(ex, directory, force=force)
    console.print_info(f"exercise {ex.number}: {ex.title}")
    console.print_info(ex.task.strip())
    console.print_info(
        f"edit {dest}/scenario.yaml (phase {ex.judged_phase}), then: meshsim exercise check "
        f"{ex.number}" + (f" --dir {directory}" if directory is not None else "")
    )


@exercise_app.command("hint")
def hint(
    which: Which,
    directory: Dir = None,
    number: Annotated[
        int | None, typer.Option("--number", "-n", help="Show hints 1..N (default: one more).")
    ] = None,
) -> None:
    """One more hint for exercise N each time you ask (or hints 1..--number).

    Example:  meshsim exercise hint 3
    """
    from meshsim import console
    from meshsim.exercise.catalog import find_exercise
    from meshsim.exercise.catalog import hint as hints

    ex = find_exercise(which)
    shown = hints(ex, number, directory)
    for i, text in enumerate(shown, 1):
        console.print_info(f"hint {i}/{len(ex.hints)}: {text}")
    if len(shown) == len(ex.hints):
        console.print_info(f"that is every hint; the lesson: {ex.pointer}")


@exercise_app.command("check")
def check(
    which: Which,
    directory: Dir = None,
    time_scale: Annotated[
        float,
        typer.Option(help="Multiply every phase's duration (0.5: twice as fast).", min=0.05),
    ] = 0.5,
) -> None:
    """Judge your fix: read your scenario, run it (time-scaled), and say what
    was right, what was not and why. Exit 0 solved, 1 not yet, 2 bad
    scenario, 3 the mesh could not run.

    Example:  meshsim exercise check 3 --dir exercise-03-retries-vs-faults
    """
    from meshsim import console
    from meshsim.exercise.catalog import find_exercise
    from meshsim.exercise.grade import check as judge

    ex = find_exercise(which)
    console.print_info(f"exercise {ex.number}: {ex.title}")
    verdict = judge(ex, directory, time_scale=time_scale, say=console.print_info)
    for f in verdict.findings:
        console.print_info(f"  {'✓' if f.ok else '✗'} {f.text}")
    if not verdict.ran:
        console.print_info("  (not run: what the scenario says already misses the task)")
    for phase, expr, held in verdict.expectations:
        if not held:
            console.print_info(f"  · your own expectation failed in {phase}: {expr}")
    if verdict.solved:
        console.print_info(f"solved. The lesson, with its charts: {ex.pointer}")
    else:
        console.print_info(
            f"not solved yet. Read {ex.pointer}; `meshsim exercise hint {ex.number}` for a hint"
        )
    raise typer.Exit(verdict.exit_code)
