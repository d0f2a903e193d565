"""The report builder as it was before it streamed (meshsim 0.x up to the
streaming report, issue #21), kept frozen as the reference the streaming
builder is compared with (tests/report/test_streaming.py): it held every
record and every span in memory, so what it computes is easy to trust.

Copied verbatim from meshsim/report/{build,stats,windows,inputs}.py at the
commit before the change; only the imports point here (and traces.jsonl's
path comes from RunDir, as main moved it there). Do not "fix" it.
"""
