"""The live tests' own helpers: a failing test leaves nothing for a later one.

CI once failed test_istio_tasks with "Exception ignored in: <_io.FileIO
name=26 mode='rb'>": the pipe of a `meshsim up` that a test_docker test had
started, and left open when its `wait_for` timed out. The failed test's
traceback kept the Popen alive until a garbage collection during the next
module, where `filterwarnings = error` turned its ResourceWarning into that
unrelated test's failure.
"""

from __future__ import annotations

import gc
import sys
import warnings

import pytest

from tests.live.helpers import running

# Says it is up, then stays until it is stopped (SIGTERM ends it).
SERVER = "import time; print('up', flush=True); time.sleep(60)"


def test_a_failing_block_stops_the_process_and_closes_its_pipe() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(AssertionError) as failed:  # keeps the traceback, as pytest does
            with running([sys.executable, "-c", SERVER]) as proc:
                assert proc.stdout is not None
                assert proc.stdout.readline() == "up\n"
                raise AssertionError("the test failed while the process ran")
        assert proc.returncode is not None, "still running after the block"
        assert proc.stdout.closed
        del proc, failed  # what pytest drops some time later
        gc.collect()
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []
