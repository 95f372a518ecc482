"""The real Google Cloud SDK pointed at tests/fake_gke.py, and how requests are compared.

Shared by ``scripts/record_gcloud.py`` (which records what gcloud sends and writes into
``tests/fixtures/gcloud/``) and the tests that compare knwalk with those recordings.

gcloud never leaves the machine: a throwaway ``CLOUDSDK_CONFIG`` sends the Kubernetes
Engine API and the Service Usage API (gcloud asks it whether the API is enabled before a
create) to the local fake (``api_endpoint_overrides``), sends no credentials
(``auth/disable_credentials``), reports no usage, checks for no updates and asks no GCE
metadata server; the environment carries no proxy. ``scripts/record_gcloud.py``
additionally runs gcloud under ``strace`` and refuses any connection that is not to
loopback.

**Normal form.** gcloud (apitools) and knwalk (``ClusterManagerClient`` over REST) put
the same request on the wire in different encodings. :func:`normal_form` removes exactly
the differences listed in :data:`ENCODING_ONLY`, and nothing else: both bodies are read
into the ``CreateClusterRequest`` proto and written back as proto3 JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "gcloud"
GCLOUD = shutil.which("gcloud")
SKIP_REASON = "gcloud (Google Cloud SDK) is not installed; the committed recordings still run"

#: The differences between gcloud's request and knwalk's that are encoding only (the one
#: list; :func:`normal_form` removes these and nothing else):
ENCODING_ONLY = (
    # 1. gcloud repeats ``parent`` in the body; the REST client sends it only in the URL
    #    (``POST /v1/{parent=projects/*/locations/*}/clusters``), which both use.
    "parent in the body as well as in the URL",
    # 2. enums: gcloud writes names ("REGULAR"), the REST client numbers (?$alt=json;
    #    enum-encoding=int); a few values GKE's API has are missing from the client
    #    library's proto and travel by number (kn_walk.gke.spec.HIDDEN_ENUM_VALUES).
    "enum names or numbers",
    # 3. int64 fields: a JSON string ("110") or a JSON number (110).
    "int64 as a string or a number",
    # 4. proto3 fields without presence at their default value: written or left out
    #    (gcloud writes ``"channel": "UNSPECIFIED"`` for --release-channel None, the client
    #    leaves it out; both are an empty ReleaseChannel).
    "default values of fields without presence written or omitted",
    # 5. the order of keys in a JSON object.
    "key order",
)


def normal_form(body: Mapping[str, Any], *, parent: str | None = None) -> dict[str, Any]:
    """A CreateClusterRequest body in proto3-JSON normal form (see :data:`ENCODING_ONLY`).

    ``parent`` (from the URL) is checked against the body's, if the body has one, and
    then dropped.
    """
    from google.cloud import container_v1
    from google.protobuf import json_format

    data = json.loads(json.dumps(body))
    if parent is not None and data.get("parent", parent) != parent:
        raise AssertionError(f"parent {data['parent']!r} in the body, {parent!r} in the URL")
    data.pop("parent", None)
    _numbers_for_hidden_enums(data)
    message = container_v1.CreateClusterRequest.pb()()
    json_format.ParseDict(data, message, ignore_unknown_fields=False)
    result = json_format.MessageToDict(
        message, preserving_proto_field_name=False, use_integers_for_enums=False
    )
    return _sorted(result)


#: where the enums of kn_walk.gke.spec.HIDDEN_ENUM_VALUES sit in a CreateClusterRequest
_HIDDEN_ENUM_PATHS = {
    "cluster.loggingConfig.componentConfig.enableComponents": "LoggingComponentConfig.Component",
    "cluster.monitoringConfig.componentConfig.enableComponents": (
        "MonitoringComponentConfig.Component"
    ),
}


def _numbers_for_hidden_enums(data: dict[str, Any]) -> None:
    """Enum names the client library's proto lacks become their numbers (encoding 2)."""
    from kn_walk.gke.spec import HIDDEN_ENUM_VALUES

    for path, enum in _HIDDEN_ENUM_PATHS.items():
        *parents, leaf = path.split(".")
        node: Any = data
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(leaf), list):
            names = HIDDEN_ENUM_VALUES[enum]
            node[leaf] = [names.get(v, v) if isinstance(v, str) else v for v in node[leaf]]


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


# --------------------------------------------------------------------------- running gcloud


def write_config(
    config_dir: Path,
    endpoint: str,
    *,
    project: str,
    properties: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """A throwaway gcloud configuration that talks only to ``endpoint`` (a loopback URL)."""
    sections: dict[str, dict[str, str]] = {
        "api_endpoint_overrides": {
            "container": endpoint.rstrip("/") + "/",
            "serviceusage": endpoint.rstrip("/") + "/",
        },
        "auth": {"disable_credentials": "true"},
        "core": {
            "project": project,
            "disable_usage_reporting": "true",
            "check_gce_metadata": "false",
            "disable_prompts": "true",
        },
        "component_manager": {"disable_update_check": "true"},
    }
    for section, values in (properties or {}).items():
        sections.setdefault(section, {}).update(values)
    text = "".join(
        f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) + "\n"
        for section, values in sections.items()
    )
    (config_dir / "configurations").mkdir(parents=True, exist_ok=True)
    (config_dir / "configurations" / "config_default").write_text(text)
    (config_dir / "active_config").write_text("default")
    return config_dir


#: environment variables gcloud may act on that must not come from the caller
_SCRUBBED = (
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "KUBECONFIG",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
)


def environ(config_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for one gcloud run with ``config_dir`` as its configuration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED and not k.startswith(("CLOUDSDK_", "KNWALK_"))
    }
    env.update(
        {
            "CLOUDSDK_CONFIG": str(config_dir),
            "CLOUDSDK_METRICS_ENVIRONMENT": "knwalk-tests",
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "HOME": str(config_dir),
        }
    )
    env.update(extra)
    return env


def run_gcloud(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    gcloud: str | None = None,
    prefix: Sequence[str] = (),
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``gcloud ARGS`` (``--quiet``); ``prefix`` runs it under another program (strace)."""
    program = gcloud or GCLOUD
    if program is None:
        raise RuntimeError(SKIP_REASON)
    return subprocess.run(
        [*prefix, program, *args, "--quiet"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def load(name: str) -> Any:
    """A committed recording, ``tests/fixtures/gcloud/NAME``."""
    return json.loads((FIXTURES / name).read_text())
