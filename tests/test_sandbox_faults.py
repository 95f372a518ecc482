"""The sandbox's fault-injection switch answers chosen requests the way real clusters fail."""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path

import httpx
import pytest

from kn_walk.sandbox import control
from kn_walk.sandbox.apiserver.faults import parse_rules
from tests.conftest import Sandbox, start_sandbox


def _client(sb: Sandbox) -> httpx.Client:
    return httpx.Client(
        base_url=sb.api,
        headers={"Authorization": f"Bearer {sb.token}"},
        verify=ssl.create_default_context(cafile=sb.ca),
        timeout=10,
    )


@pytest.fixture
def faulty(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    with _client(sandbox) as h:
        yield h
        h.delete("/knwalk.dev/faults")


def test_status_faults_with_retry_after_and_times(faulty: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    r = faulty.put(
        "/knwalk.dev/faults",
        json=[
            {"method": "GET", "path": path, "status": 429, "retryAfter": 2, "times": 1},
            {"method": "POST", "path": path, "status": 503, "times": 1},
        ],
    )
    assert r.status_code == 200
    r = faulty.get(path)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    assert r.json()["reason"] == "TooManyRequests"
    assert r.json()["details"]["retryAfterSeconds"] == 2
    assert faulty.get(path).status_code == 200  # times: 1
    r = faulty.post(path, json={"metadata": {"name": "x"}})
    assert r.status_code == 503 and r.json()["reason"] == "ServiceUnavailable"
    # the failed create changed nothing; the retry succeeds
    assert faulty.get(f"{path}/x").status_code == 404
    assert faulty.post(path, json={"metadata": {"name": "x"}}).status_code == 201
    hits = faulty.get("/knwalk.dev/faults").json()["rules"]
    assert [h["hits"] for h in hits] == [1, 1]


def test_conflict_and_internal_error(faulty: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/c"
    faulty.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "c"}})
    faulty.put(
        "/knwalk.dev/faults",
        json=[
            {"method": "PATCH", "path": path, "status": 409, "times": 1},
            {"method": "DELETE", "path": path, "status": 500, "times": 1},
        ],
    )
    patch = {"data": {"a": "1"}}
    headers = {"Content-Type": "application/merge-patch+json"}
    r = faulty.patch(path, content=json.dumps(patch), headers=headers)
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    assert faulty.patch(path, content=json.dumps(patch), headers=headers).status_code == 200
    assert faulty.delete(path).status_code == 500
    assert faulty.delete(path).status_code == 200


def test_slow_and_dropped(faulty: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    faulty.put(
        "/knwalk.dev/faults",
        json=[
            {"method": "GET", "path": path, "delay": 0.3, "times": 1},
            {"method": "GET", "path": path, "drop": True, "times": 1},
        ],
    )
    start = time.monotonic()
    assert faulty.get(path).status_code == 200
    assert time.monotonic() - start >= 0.3
    with pytest.raises(httpx.HTTPError):
        faulty.get(path)
    assert faulty.get(path).status_code == 200


def test_watch_cut_and_gone(faulty: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(3):
        faulty.post(path, json={"metadata": {"name": f"w{i}"}})
    faulty.put(
        "/knwalk.dev/faults",
        json=[
            {"path": path, "watch": True, "cutAfter": 1, "times": 1},
            {"path": path, "watch": True, "gone": True, "times": 1},
        ],
    )
    r = faulty.get(path, params={"watch": "true", "resourceVersion": "0", "timeoutSeconds": "5"})
    lines = r.text.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["type"] == "ADDED"  # cut mid-way
    r = faulty.get(path, params={"watch": "true", "resourceVersion": "1", "timeoutSeconds": "5"})
    ev = json.loads(r.text.splitlines()[0])
    assert ev["type"] == "ERROR" and ev["object"]["code"] == 410
    r = faulty.get(path, params={"watch": "true", "resourceVersion": "0", "timeoutSeconds": "1"})
    assert len(r.text.splitlines()) == 3


def test_fault_rules_are_validated(faulty: httpx.Client) -> None:
    r = faulty.put("/knwalk.dev/faults", json=[{"path": "(", "status": 500}])
    assert r.status_code == 400 and "regular expression" in r.json()["message"]
    r = faulty.put("/knwalk.dev/faults", json=[{"status": 200}])
    assert r.status_code == 400
    with pytest.raises(ValueError, match="choose one of"):
        parse_rules([{"status": 500, "drop": True}])
    with pytest.raises(ValueError, match="unknown field"):
        parse_rules([{"stauts": 500}])


def test_faults_need_the_token(sandbox: Sandbox) -> None:
    r = httpx.put(
        sandbox.api + "/knwalk.dev/faults",
        json=[{"status": 500}],
        verify=ssl.create_default_context(cafile=sandbox.ca),
    )
    assert r.status_code == 401


def test_faults_file_at_start(tmp_path: Path) -> None:
    rules = tmp_path / "faults.yaml"
    rules.write_text("- method: GET\n  path: /api/v1/namespaces\n  status: 503\n  times: 1\n")
    sb = start_sandbox(tmp_path, faults=rules)
    try:
        with _client(sb) as h:
            assert h.get("/api/v1/namespaces").status_code == 503
            assert h.get("/api/v1/namespaces").status_code == 200
    finally:
        control.stop(sb.state_dir)
