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
def namespace(api_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh namespace in the session sandbox, deleted (not waited for) after the test.

    Deleting it keeps the session sandbox as small as one test needs: a change that
    makes Knative reconcile every Route (config-domain, config-network) otherwise
    grows with every test that ran before it on the same worker.
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api_client)
    name = "t-" + uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as exc:  # already gone (the test deleted it), or the sandbox stopped
        if exc.status not in (404, 409):
            raise


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
