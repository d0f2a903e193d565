"""The live dashboard (`meshsim up --dashboard`, `meshsim dashboard RUN_DIR`).

It reads a run directory, live or finished, the way the report does: the
records, phases.jsonl, metrics.jsonl, edges.json, run.json and plan.json the
run already writes. It never talks to the mesh, so it cannot change the run's
figures. `state.RunState` folds those files into per-second buckets as they
grow; `view` draws the graph and charts with the report's own SVG code;
`server` serves the page, `/api/state` and `/api/events` (docs/observability.md).
"""
