"""Load, bounded and on loopback: the API under concurrent clients, the gateway under wrk.

The drivers are ``scripts/load_api.py`` and ``scripts/load_gateway.py``; CI runs
them for a few seconds, ``scripts/soak.sh`` for the full 60 s (the figures in
docs/benchmarks.md come from those runs).
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from kn_walk.sandbox import control
from tests.conftest import start_sandbox
from tests.test_reliability_support import sizes

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


load_api = _script("load_api")
load_gateway = _script("load_gateway")


@pytest.mark.parametrize(("clients", "seconds"), sizes((50, 3.0), (50, 60.0)))
def test_api_under_concurrent_clients(tmp_path: Path, clients: int, seconds: float) -> None:
    """create/patch/get/list/watch from N clients: no 5xx, nothing lost or doubled."""
    sb = start_sandbox(tmp_path)
    try:
        report = asyncio.run(
            load_api.load(sb.api, sb.token, sb.ca, clients=clients, duration=seconds)
        )
    finally:
        control.stop(sb.state_dir)
    summary = report.summary()
    assert summary["server_errors_5xx"] == 0, summary
    assert not summary["client_errors"], summary
    assert not (summary["lost"] or summary["phantom"] or summary["duplicated"]), summary
    assert not summary["watch_problems"], summary
    assert summary["objects_created"] >= clients  # every client got going
    assert set(summary["latency_ms"]) == {"create", "patch", "get", "list", "watch"}
    print(summary)  # the figures, for soak.sh's log


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk")
@pytest.mark.parametrize(("seconds", "window"), sizes((3.0, 1.0), (60.0, 10.0)))
def test_gateway_under_wrk(tmp_path: Path, seconds: float, window: float) -> None:
    """No error under wrk, and the sandbox's memory does not grow."""
    sb = start_sandbox(tmp_path, stable_window=seconds + 600)
    try:
        host, revision = load_gateway.deploy(sb.state_dir, sb.kubeconfig)
        answer = httpx.get(sb.info.gateway, headers={"Host": host}, trust_env=False)
        assert answer.text == load_gateway.EXPECTED
        report = load_gateway.run(
            sb.info.gateway, host, sb.info.pid, revision, duration=seconds, window=window
        )
    finally:
        control.stop(sb.state_dir)
    summary = report.summary()
    assert summary["requests"] > 1000, summary
    assert summary["errors"] == 0, summary
    assert summary["sandbox_rss_growth_percent"] < 10.0, summary
    print(summary)
