#!/usr/bin/env python3
"""Generate kn_walk/sandbox/data/release.json: what the release manifests install.

The sandbox creates, once, what ``serving-core.yaml`` (Knative Serving v1.23.0),
``net-istio.yaml`` and net-istio's Istio install put on a cluster besides the
CRDs (those are ``kn_walk/sandbox/crds/``): the ConfigMaps of ``knative-serving``
with their upstream data, the system Deployments and their Services, and
net-istio's two Istio Gateways. This script reads those manifests from git
checkouts of the upstream repositories, at the commits Serving v1.23.0 uses, and
writes them as one JSON list, changed only as a release build changes them:

* ``app.kubernetes.io/version: devel`` becomes the release's version;
* ``ko://`` image paths become ``gcr.io/knative-releases/<path>:v<version>`` (a release
  pins each by digest; the sandbox, which pulls nothing, names the version tag);
* comments go (JSON has none).

    scripts/gen_release.py --serving DIR --networking DIR --net-istio DIR

Each DIR is a git directory (``git --git-dir DIR show REV:PATH``); the revisions
are below. ``--check`` fails if the file differs from what would be written.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "kn_walk" / "sandbox" / "data" / "release.json"
VERSION = "1.23.0"
#: (repository, revision, paths): Serving's tag, and the networking commit its go.mod
#: names; net-istio's and its Istio install's newest commit before Serving v1.23.0
SOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "serving",
        "knative-v1.23.0",
        tuple(
            f"config/core/configmaps/{name}.yaml"
            for name in (
                "autoscaler",
                "certmanager",
                "defaults",
                "deployment",
                "domain",
                "features",
                "gc",
                "leader-election",
                "logging",
                "observability",
                "tracing",
            )
        )
        + tuple(
            f"config/core/deployments/{name}.yaml"
            for name in ("activator", "autoscaler", "controller", "webhook")
        ),
    ),
    ("networking", "c7a7b772cac9", ("config/config-network.yaml",)),
    (
        "net-istio",
        "bdbf4dac4ecb",
        (
            "config/202-gateway.yaml",
            "config/203-local-gateway.yaml",
            "config/400-config-istio.yaml",
            "config/500-controller.yaml",
            "config/500-webhook-deployment.yaml",
            "config/500-webhook-service.yaml",
            "third_party/istio-latest/istio-kind-no-mesh/istio.yaml",
        ),
    ),
)
KINDS = ("ConfigMap", "Deployment", "Service", "Gateway")
#: from Istio's install: its control plane and gateway (the gateway's Service is the
#: sandbox's own, with its port; see server.py)
ISTIO_KEPT = {
    ("Deployment", "istiod"),
    ("Deployment", "istio-ingressgateway"),
    ("Service", "istiod"),
}


def show(git_dir: str, rev: str, path: str) -> str:
    out = subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"{rev}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def released(value: Any) -> Any:
    """What a release build makes of a manifest value."""
    if isinstance(value, dict):
        out = {k: released(v) for k, v in value.items()}
        if out.get("app.kubernetes.io/version") == "devel":
            out["app.kubernetes.io/version"] = VERSION
        return out
    if isinstance(value, list):
        return [released(v) for v in value]
    if isinstance(value, str) and value.startswith("ko://"):
        return f"gcr.io/knative-releases/{value.removeprefix('ko://')}:v{VERSION}"
    return value


def collect(dirs: dict[str, str]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for repo, rev, paths in SOURCES:
        for path in paths:
            for doc in yaml.safe_load_all(show(dirs[repo], rev, path)):
                if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
                    continue
                if path.startswith("third_party/") and (
                    (doc["kind"], doc["metadata"]["name"]) not in ISTIO_KEPT
                ):
                    continue
                objects.append(released(doc))
    return objects


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--serving", required=True, help="git dir of knative/serving")
    parser.add_argument("--networking", required=True, help="git dir of knative/networking")
    parser.add_argument(
        "--net-istio", required=True, help="git dir of knative-extensions/net-istio"
    )
    parser.add_argument("--check", action="store_true", help="fail if the file is not current")
    args = parser.parse_args()
    dirs = {"serving": args.serving, "networking": args.networking, "net-istio": args.net_istio}
    sources = {repo: {"revision": rev, "paths": list(paths)} for repo, rev, paths in SOURCES}
    text = json.dumps({"sources": sources, "objects": collect(dirs)}, indent=1) + "\n"
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} is not current: run {sys.argv[0]} without --check", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
