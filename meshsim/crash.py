"""What the CLI does with an exception nobody foresaw: a bug in meshsim.

The user gets one line naming the exception and a log file holding the full
traceback (to attach to a bug report), and exit code 3, never 1: CI reads 1 as
"an expectation failed", which a crash is not.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

EXIT_CODE = 3


def write_crash_log(exc: BaseException) -> Path | None:
    """Write the traceback of `exc` (with the command line) to a new file under
    $MESHSIM_HOME/crashes, or the temporary directory when that cannot be
    written; the path, or None when neither can."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = (
        f"meshsim crashed at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
        f"command: {' '.join(sys.argv)!r}\n"
        f"python: {sys.version.split()[0]} on {sys.platform}\n\n"
        + "".join(traceback.format_exception(exc))
    )
    home = os.environ.get("MESHSIM_HOME") or str(Path.home() / ".meshsim")
    for folder in (Path(home) / "crashes", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"meshsim-crash-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8", errors="backslashreplace")
            return path
        except OSError:
            continue
    return None


def crash_message(exc: BaseException, log: Path | None) -> str:
    """One line: what happened and where the traceback is."""
    what = str(exc).splitlines()[0] if str(exc) else ""
    if len(what) > 200:
        what = what[:197] + "..."
    where = f"the traceback is in {log}" if log else "the traceback could not be written"
    return (
        f"internal error (a bug in meshsim): {type(exc).__name__}"
        + (f": {what}" if what else "")
        + f"; {where}; please report it"
    )
