"""The fork server of the local runtime: the sample shop's modules imported once,
each instance a fork of it.

A sample service costs ~0.3 s of CPU to start as `python -m sample_services.X`,
nearly all of it importing aiohttp (its connector builds TLS contexts at import);
a mesh of 100 instances paid that 100 times on 2 cores. This process imports the
modules once and forks one child per instance on request, so an instance costs a
fork plus its own module's code. Each child is a process of its own, as before:
its own pid and session (chaos signals its process group), its own log on
stdout/stderr, the environment and working directory it would have been
exec'ed with, and its module run as `__main__` as `python -m` runs it.

The child must not be a thread's fork: this process is single-threaded and runs
no event loop (forking a running loop or a thread pool is what breaks). It uses
the standard library only, so that what it imports is exactly what it was asked to.

Protocol, one JSON object a line. On stdin, a request: `{"module", "env", "cwd",
"log"}`. On stdout, for each request in order, `{"spawned": pid}` or
`{"error": message}`; and whenever a child ends, `{"exited": pid, "code": c}`
(`c` as asyncio's returncode: the exit status, or minus the signal). End of
stdin (meshsim closed it or died) ends this process; the children keep running,
as exec'ed children would (a `--keep` mesh, `meshsim down` stops them by pid).

    python -u -m meshsim.runtime.local_forkserver sample_services.user sample_services.order
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import json
import os
import runpy
import selectors
import signal
import sys
import traceback
from typing import Any, NoReturn


def _send(message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(1, data) :]


def _exit_code(exc: SystemExit) -> int:
    """What `python` exits with for `sys.exit(x)`: None is 0, a message is 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _child(request: dict[str, Any], keep_closed: list[int], started: int) -> NoReturn:
    """In the forked child: become the instance, run its module, never return
    into the server's loop."""
    code = 1
    try:
        os.setsid()  # its own session and process group, as start_new_session gave it
        os.close(started)  # now a signal to its group reaches it
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in keep_closed:
            os.close(fd)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        if request.get("cwd"):
            os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        module = request["module"]
        # As `python -m`: the working directory first on the path, the module's file as argv[0].
        sys.path[0] = os.getcwd()
        spec = importlib.util.find_spec(module)
        sys.argv = [spec.origin if spec is not None and spec.origin else module]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:  # the traceback goes to the instance's log, as python's would
        traceback.print_exc()
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()  # logging's flush, as an interpreter's exit runs it
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def serve(modules: list[str]) -> None:
    for name in modules:
        importlib.import_module(name)
    # Only what they import stays loaded: each child runs its module afresh as
    # __main__ (runpy warns about a module already imported under its own name).
    for name in modules:
        sys.modules.pop(name, None)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # meshsim decides when this ends
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    keep_closed = [selector.fileno(), wake_r, wake_w]
    pending = b""
    while True:
        for key, _ in selector.select():
            if key.fd == wake_r:
                while True:
                    try:
                        if not os.read(wake_r, 512):
                            break
                    except BlockingIOError:
                        break
                continue
            data = os.read(0, 1 << 16)
            if not data:
                return
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                _spawn(json.loads(line), keep_closed)
        _reap()


def _spawn(request: dict[str, Any], keep_closed: list[int]) -> None:
    # The pid is handed out once the child leads its own process group, so
    # that a signal to the group (chaos right after a restart) cannot miss it.
    started_r, started_w = os.pipe()
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(started_r)
        os.close(started_w)
        _send({"error": f"fork failed: {exc.strerror or exc}"})
        return
    if pid == 0:
        os.close(started_r)
        _child(request, keep_closed, started_w)
    os.close(started_w)
    os.read(started_r, 1)  # end of file: the child closed its end (or died)
    os.close(started_r)
    _send({"spawned": pid})


if __name__ == "__main__":
    serve(sys.argv[1:])
