"""Workshop exercises: a task, a broken scenario to fix, and a check that
judges why the fix works (docs/workshop.md).

- `catalog`: the shipped exercises; `start` copies one, `hint` gives hints.
- `evidence`, `checks`: what each exercise's check reads, and how it judges.
- `grade`: `check` reads, runs and judges a learner's scenario.
- `cli`: the `meshsim exercise` commands.

>>> from meshsim.exercise.catalog import find_exercise      # doctest: +SKIP
>>> from meshsim.exercise.grade import check                # doctest: +SKIP
>>> check(find_exercise(3)).solved                          # doctest: +SKIP
"""
