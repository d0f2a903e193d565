"""`meshsim config PROXY` shows a proxy of the plan, never a path (issue 16, item 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshsim.control.plan import build_plan
from meshsim.errors import UsageError
from meshsim.status import proxy_config


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    plan = build_plan({"product": {"v1": 1}, "order": {"v1": 1}}, 0)
    run.mkdir()
    (run / "plan.json").write_text(json.dumps(plan.to_dict()))
    for proxy in plan.proxies:
        (run / "xds" / proxy).mkdir(parents=True)
        (run / "xds" / proxy / "lds.json").write_text('{"resources": []}')
        (run / "xds" / proxy / "cds.json").write_text('{"resources": []}')
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "lds.json").write_text('{"password": "hunter2"}')
    return run


@pytest.mark.parametrize(
    "proxy", ["../../../../etc", "../../secret", "..", ".", "/etc", "xds", "product-v1-0/.."]
)
def test_a_path_is_not_a_proxy(run_dir: Path, proxy: str) -> None:
    with pytest.raises(UsageError) as err:
        proxy_config(proxy, "all", run_dir)
    message = str(err.value)
    assert "expected one of istio-ingressgateway, " in message and "product-v1-0" in message


def test_a_proxy_of_the_plan_is_shown(run_dir: Path) -> None:
    assert "# product-v1-0: lds.json" in proxy_config("product-v1-0", "all", run_dir)


def test_the_cli_exits_2_listing_the_valid_names(run_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from meshsim.cli import main; main()", "config"]
        + ["../../../../etc", "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 2
    assert "expected one of" in proc.stderr and "order-v1-0" in proc.stderr
    assert "passwd" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
