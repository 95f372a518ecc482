"""Shared fixtures: a real sandbox process, a kubeconfig pointing at it, clients."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kn_walk.sandbox import control

if TYPE_CHECKING:
    from tests.test_cli_support import Cluster


@dataclass
class Sandbox:
    info: control.SandboxInfo
    kubeconfig: Path
    state_dir: Path

    @property
    def token(self) -> str:
        return control.read_token(self.state_dir)

    @property
    def ca(self) -> str:
        return str(control.ca_file(self.state_dir))

    @property
    def api(self) -> str:
        return self.info.api

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env


def start_sandbox(tmp: Path, **kwargs: object) -> Sandbox:
    state_dir = tmp / "state"
    kubeconfig = tmp / "kubeconfig"
    info, started = control.start(state_dir, **kwargs)  # type: ignore[arg-type]
    assert started
    control.write_kubeconfig(info, kubeconfig)
    return Sandbox(info, kubeconfig, state_dir)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox for the whole session; tests isolate themselves by namespace."""
    sb = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    yield sb
    control.stop(sb.state_dir)


@pytest.fixture
def api_client(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    from kubernetes import config

    client = config.new_client_from_config(
        config_file=str(sandbox.kubeconfig), context=control.CONTEXT
    )
    yield client
    client.close()


@pytest.fixture
def namespace(api_client) -> str:  # type: ignore[no-untyped-def]
    from kubernetes import client

    name = "t-" + uuid.uuid4().hex[:8]
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture
def cluster(sandbox: Sandbox, namespace: str, api_client: Any) -> Cluster:
    """The session sandbox seen through knwalk from this test's namespace."""
    from tests.test_cli_support import Cluster

    return Cluster(sandbox.kubeconfig, namespace, api_client)


@pytest.fixture
def split_app(cluster: Cluster) -> Cluster:
    """v1 and v2 deployed, split 50/50 with the walkthrough's tags."""
    cluster.deploy()
    cluster.deploy("--target", "Go Sample v2")
    result = cluster.run("split", "50/50")
    assert result.code == 0, result.err
    return cluster
