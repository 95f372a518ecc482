#!/usr/bin/env python3
"""Record what the real Google Cloud SDK sends and writes, as test fixtures.

For every flag set in :data:`CREATE_CASES` this runs ``gcloud container clusters create``
against ``tests/fake_gke.py`` and records the CreateClusterRequest body gcloud sent; for
every case in :data:`CREDENTIAL_CASES` it serves a cluster, runs ``gcloud container
clusters get-credentials`` and records the kubeconfig gcloud wrote. The results go to
``tests/fixtures/gcloud/``, which the tests compare knwalk with
(``tests/test_gke_gcloud_parity.py``).

Each create case is a flag set a user types after ``knwalk cluster create`` (``knwalk``)
and is run through gcloud twice:

* ``gcloud``: the user's flags exactly as typed, after knwalk's defaults
  (:data:`KNWALK_DEFAULTS`) minus those the flags replace. What gcloud sends for it is
  ``request``, the request knwalk must send. When gcloud refuses the flags as typed
  (the seed walkthrough's removed add-on), its error is recorded as ``refused`` instead.
* ``printed``: the "equivalent gcloud command" knwalk's ``--dry-run`` must print, with
  every default written out and values in gcloud's spelling; its request is
  ``printed_request``. These lines are written here by hand, from gcloud's documented
  flags, not computed by knwalk.

gcloud never leaves the machine (see ``tests/gcloud_env.py``); when ``strace`` is
installed every run is traced and a connection to anything but loopback stops the
recording.

Usage: ``python scripts/record_gcloud.py [--only NAME ...] [--gcloud PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import gcloud_env  # noqa: E402
from tests.fake_gke import FAKE_CA, FakeGke  # noqa: E402

PROJECT = "demo-project"
ZONE = "us-central1-a"
REGION = "us-central1"

#: knwalk's defaults as gcloud flags, in the order knwalk prints them (key: the flag's
#: name without dashes; a case replaces a value, or drops it with an empty list)
KNWALK_DEFAULTS: dict[str, list[str]] = {
    "machine-type": ["--machine-type", "n1-standard-8"],
    "num-nodes": ["--num-nodes", "2"],
    "disk-type": ["--disk-type", "pd-standard"],
    "disk-size": ["--disk-size", "100GB"],
    "image-type": ["--image-type", "COS_CONTAINERD"],
    "release-channel": ["--release-channel", "regular"],
    "scopes": ["--scopes", "cloud-platform"],
    "ip-alias": ["--enable-ip-alias"],
    "default-max-pods-per-node": ["--default-max-pods-per-node", "110"],
    "addons": ["--addons", "HttpLoadBalancing,HorizontalPodAutoscaling"],
    "autoupgrade": ["--enable-autoupgrade"],
    "autorepair": ["--enable-autorepair"],
    "logging": ["--logging", "SYSTEM,WORKLOAD"],
    "monitoring": ["--monitoring", "SYSTEM"],
}


@dataclass
class Create:
    """A flag set: what knwalk is given, and the printed gcloud command for the same
    cluster (``gcloud``: the flags that replace knwalk's defaults, by key)."""

    knwalk: list[str]
    gcloud: dict[str, list[str]] = field(default_factory=dict)
    name: str = "knwalk"
    region: bool = False

    def where(self) -> list[str]:
        return ["--region", REGION] if self.region else ["--zone", ZONE]

    def knwalk_args(self) -> list[str]:
        return ([self.name] if self.name != "knwalk" else []) + self.where() + self.knwalk

    def _head(self) -> list[str]:
        return ["container", "clusters", "create", self.name, "--project", PROJECT, *self.where()]

    def typed_args(self) -> list[str]:
        """knwalk's defaults the flags do not replace, then the user's flags as typed."""
        args = self._head()
        for key, value in KNWALK_DEFAULTS.items():
            if key not in self.gcloud:
                args += value
        return args + self.knwalk

    def printed_args(self) -> list[str]:
        """The command knwalk's ``--dry-run`` prints: every default written out."""
        args = self._head()
        for value in {**KNWALK_DEFAULTS, **self.gcloud}.values():
            args += value
        return args


CREATE_CASES: dict[str, Create] = {
    "defaults": Create([]),
    "regional": Create([], region=True),
    # the 2019 Knative walkthrough's command, as users still paste it
    "seed-walkthrough": Create(
        [
            "--cluster-version", "latest",
            "--machine-type", "n1-standard-4",
            "--enable-autoscaling", "--min-nodes", "1", "--max-nodes", "10",
            "--enable-autorepair",
            "--scopes", "service-control,service-management,compute-rw,storage-ro,"
            "cloud-platform,logging-write,monitoring-write,pubsub,datastore",
            "--num-nodes", "3",
            "--addons", "HorizontalPodAutoscaling,HttpLoadBalancing,Istio",
            "--enable-stackdriver-kubernetes",
        ],
        {
            "machine-type": ["--machine-type", "n1-standard-4"],
            "num-nodes": ["--num-nodes", "3"],
            "release-channel": ["--cluster-version", "latest"],
            "scopes": [
                "--scopes", "service-control,service-management,compute-rw,storage-ro,"
                "cloud-platform,logging-write,monitoring-write,pubsub,datastore",
            ],
            "addons": ["--addons", "HttpLoadBalancing,HorizontalPodAutoscaling"],
            "autoscaling": ["--enable-autoscaling", "--min-nodes", "1", "--max-nodes", "10"],
        },
        name="knative",
    ),
    "cluster-version": Create(
        ["--cluster-version", "1.33"], {"release-channel": ["--cluster-version", "1.33"]}
    ),
    "channel-and-version": Create(
        ["--release-channel", "stable", "--cluster-version", "1.33"],
        {"release-channel": ["--cluster-version", "1.33", "--release-channel", "stable"]},
    ),
    "channel-none": Create(
        ["--release-channel", "None"], {"release-channel": ["--release-channel", "None"]}
    ),
    "no-autoupgrade": Create(
        ["--no-enable-autoupgrade"],
        {"release-channel": [], "autoupgrade": ["--no-enable-autoupgrade"]},
    ),
    "no-autorepair": Create(
        ["--no-enable-autorepair"],
        {"release-channel": [], "autorepair": ["--no-enable-autorepair"]},
    ),
    "labels": Create(["--labels", "team=web,env=dev"], {"labels": ["--labels", "env=dev,team=web"]}),
    "addons-empty": Create(["--addons", ""], {"addons": ["--addons", ""]}),
    "addons-mixed": Create(
        ["--addons", "NodeLocalDNS=DISABLED,NetworkPolicy,GcePersistentDiskCsiDriver,BackupRestore"],
        {
            "addons": [
                "--addons",
                "NetworkPolicy,NodeLocalDNS=DISABLED,GcePersistentDiskCsiDriver,BackupRestore",
            ]
        },
    ),
    "no-ip-alias": Create(
        ["--no-enable-ip-alias"],
        {"ip-alias": ["--no-enable-ip-alias"], "default-max-pods-per-node": []},
    ),
    "logging-monitoring": Create(
        ["--logging", "SYSTEM,API_SERVER,ADDON_MANAGER", "--monitoring", "SYSTEM,POD,WORKLOAD"],
        {
            "logging": ["--logging", "SYSTEM,API_SERVER,ADDON_MANAGER"],
            "monitoring": ["--monitoring", "SYSTEM,WORKLOAD,POD"],
        },
    ),
    "logging-none": Create(
        ["--logging", "NONE", "--monitoring", "NONE"],
        {"logging": ["--logging", "NONE"], "monitoring": ["--monitoring", "NONE"]},
    ),
    "scopes": Create(
        ["--scopes", "gke-default,storage-rw"], {"scopes": ["--scopes", "gke-default,storage-rw"]}
    ),
    "network": Create(
        ["--network", "knwalk-net", "--subnetwork", "knwalk-subnet"],
        {"network": ["--network", "knwalk-net", "--subnetwork", "knwalk-subnet"]},
    ),
    "spot": Create(["--spot"], {"spot": ["--spot"]}),
    "preemptible": Create(["--preemptible"], {"spot": ["--preemptible"]}),
    "autoscaling": Create(
        ["--enable-autoscaling", "--min-nodes", "1", "--max-nodes", "5"],
        {"autoscaling": ["--enable-autoscaling", "--min-nodes", "1", "--max-nodes", "5"]},
    ),
    "autoscaling-total": Create(
        ["--enable-autoscaling", "--total-min-nodes", "1", "--total-max-nodes", "6"],
        {
            "autoscaling": [
                "--enable-autoscaling", "--total-min-nodes", "1", "--total-max-nodes", "6",
            ]
        },
        region=True,
    ),
    "workload-identity": Create(
        [
            "--workload-pool", f"{PROJECT}.svc.id.goog",
            "--addons", "HttpLoadBalancing,HorizontalPodAutoscaling,ConfigConnector",
        ],
        {
            "addons": ["--addons", "HttpLoadBalancing,HorizontalPodAutoscaling,ConfigConnector"],
            "workload-pool": ["--workload-pool", f"{PROJECT}.svc.id.goog"],
        },
    ),
    "private-nodes": Create(
        ["--enable-private-nodes", "--master-ipv4-cidr", "172.16.0.32/28"],
        {"private": ["--enable-private-nodes", "--master-ipv4-cidr", "172.16.0.32/28"]},
    ),
    "private-nodes-only": Create(
        ["--enable-private-nodes"], {"private": ["--enable-private-nodes"]}
    ),
    "tags": Create(["--tags", "web,knwalk"], {"tags": ["--tags", "web,knwalk"]}),
    "service-account": Create(
        ["--service-account", f"knwalk-nodes@{PROJECT}.iam.gserviceaccount.com"],
        {"service-account": ["--service-account", f"knwalk-nodes@{PROJECT}.iam.gserviceaccount.com"]},
    ),
    "node-locations": Create(
        ["--node-locations", "us-central1-b,us-central1-a"],
        {"node-locations": ["--node-locations", "us-central1-a,us-central1-b"]},
    ),
    "disk-size-mb": Create(["--disk-size", "51200MB"], {"disk-size": ["--disk-size", "50GB"]}),
    "machine": Create(
        [
            "--machine-type", "e2-standard-4", "--num-nodes", "3", "--disk-type", "pd-ssd",
            "--disk-size", "1.5TB", "--image-type", "ubuntu_containerd",
            "--default-max-pods-per-node", "64",
        ],
        {
            "machine-type": ["--machine-type", "e2-standard-4"],
            "num-nodes": ["--num-nodes", "3"],
            "disk-type": ["--disk-type", "pd-ssd"],
            "disk-size": ["--disk-size", "1536GB"],
            "image-type": ["--image-type", "ubuntu_containerd"],
            "default-max-pods-per-node": ["--default-max-pods-per-node", "64"],
        },
    ),
}  # fmt: skip


# --------------------------------------------------------------------------- get-credentials

DNS = "gke-0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2-123456789012.us-central1-a.gke.goog"
_IP_CLUSTER: dict[str, Any] = {
    "endpoint": "203.0.113.10",
    "masterAuth": {"clusterCaCertificate": FAKE_CA},
    "controlPlaneEndpointsConfig": {
        "dnsEndpointConfig": {"endpoint": DNS, "allowExternalTraffic": True},
        "ipEndpointsConfig": {
            "enabled": True,
            "enablePublicEndpoint": True,
            "publicEndpoint": "203.0.113.10",
        },
    },
}
_DNS_ONLY: dict[str, Any] = {
    "masterAuth": {"clusterCaCertificate": FAKE_CA},
    "controlPlaneEndpointsConfig": {
        "dnsEndpointConfig": {"endpoint": DNS, "allowExternalTraffic": True},
        "ipEndpointsConfig": {"enabled": False},
    },
}
_PRIVATE: dict[str, Any] = {
    **_IP_CLUSTER,
    "privateClusterConfig": {
        "enablePrivateNodes": True,
        "masterIpv4CidrBlock": "172.16.0.32/28",
        "privateEndpoint": "172.16.0.34",
        "publicEndpoint": "203.0.113.10",
    },
}
_PRIVATE_ONLY: dict[str, Any] = {
    **_PRIVATE,
    "endpoint": "172.16.0.34",
    "privateClusterConfig": {**_PRIVATE["privateClusterConfig"], "enablePrivateEndpoint": True},
}
#: a cluster from before DNS endpoints: no controlPlaneEndpointsConfig at all
_NO_DNS: dict[str, Any] = {
    "endpoint": "203.0.113.10",
    "masterAuth": {"clusterCaCertificate": FAKE_CA},
}
_DNS_CLOSED: dict[str, Any] = {
    **_IP_CLUSTER,
    "controlPlaneEndpointsConfig": {
        "dnsEndpointConfig": {"endpoint": DNS, "allowExternalTraffic": False},
        "ipEndpointsConfig": {"enabled": True},
    },
}
#: a kubeconfig that already has someone else's entries (they must be kept)
OTHER_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: kind-dev
  cluster:
    server: https://127.0.0.1:6443
users:
- name: kind-dev
  user:
    token: keep-me
contexts:
- name: kind-dev
  context:
    cluster: kind-dev
    user: kind-dev
current-context: kind-dev
preferences: {}
"""


@dataclass
class Credentials:
    cluster: dict[str, Any]
    flags: list[str] = field(default_factory=list)
    properties: dict[str, dict[str, str]] = field(default_factory=dict)
    kubeconfig_before: str | None = None
    plugin_on_path: bool = True


CREDENTIAL_CASES: dict[str, Credentials] = {
    "ip": Credentials(_IP_CLUSTER, kubeconfig_before=OTHER_KUBECONFIG),
    "dns-only": Credentials(_DNS_ONLY),
    "dns-endpoint": Credentials(_IP_CLUSTER, ["--dns-endpoint"]),
    "private": Credentials(_PRIVATE, ["--internal-ip"]),
    "adc": Credentials(
        _IP_CLUSTER, properties={"container": {"use_application_default_credentials": "true"}}
    ),
    "sdk-bin-plugin": Credentials(_IP_CLUSTER, plugin_on_path=False),
    # a private cluster without --internal-ip: its public endpoint
    "private-public": Credentials(_PRIVATE),
    # a private cluster whose control plane has only its private endpoint
    "private-endpoint-only": Credentials(_PRIVATE_ONLY),
    # --dns-endpoint wins over --internal-ip
    "private-dns-endpoint": Credentials(_PRIVATE, ["--internal-ip", "--dns-endpoint"]),
    # gcloud's reading of a boolean property: yes, 1, true (any case) are true
    "adc-yes": Credentials(
        _IP_CLUSTER, properties={"container": {"use_application_default_credentials": "Yes"}}
    ),
    "adc-false": Credentials(
        _IP_CLUSTER, properties={"container": {"use_application_default_credentials": "false"}}
    ),
    # gcloud refuses these
    "internal-ip-not-private": Credentials(_IP_CLUSTER, ["--internal-ip"]),
    "internal-ip-dns-only": Credentials(_DNS_ONLY, ["--internal-ip"]),
    "dns-endpoint-closed": Credentials(_DNS_CLOSED, ["--dns-endpoint"]),
    "dns-endpoint-missing": Credentials(_NO_DNS, ["--dns-endpoint"]),
    "dns-endpoint-adc": Credentials(
        _IP_CLUSTER,
        ["--dns-endpoint"],
        properties={"container": {"use_application_default_credentials": "true"}},
    ),
}

PLUGIN = "gke-gcloud-auth-plugin"
CACHE = "gke_gcloud_auth_plugin_cache"


# --------------------------------------------------------------------------- running


_CONNECT = re.compile(
    r"connect\(\d+, \{sa_family=(AF_INET6?),.*?(?:inet_addr|inet_pton)\(([^)]*)\)"
)


def _check_loopback(trace: Path) -> None:
    """Stop when gcloud connected (or tried to) anywhere but loopback."""
    bad = []
    for line in trace.read_text(errors="replace").splitlines():
        match = _CONNECT.search(line)
        if not match:
            continue
        address = match.group(2).split(",")[-1].strip().strip('"')
        if address not in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
            bad.append(line.strip())
    if bad:
        raise SystemExit(
            "gcloud tried to reach beyond loopback; fix the configuration in "
            "tests/gcloud_env.py before recording:\n  " + "\n  ".join(bad[:10])
        )


def _run(args: Sequence[str], env: Mapping[str, str], gcloud: str, work: Path) -> Any:
    prefix: list[str] = []
    trace = work / "strace.out"
    strace = shutil.which("strace")
    if strace:
        prefix = [strace, "-f", "-qq", "-e", "trace=connect", "-o", str(trace)]
    run = gcloud_env.run_gcloud(args, env, gcloud=gcloud, prefix=prefix)
    if prefix:
        _check_loopback(trace)
    return run


def _sdk_version(gcloud: str, work: Path) -> str:
    config = gcloud_env.write_config(work / "version", "http://127.0.0.1:9/", project=PROJECT)
    run = _run(
        ["version", '--format=value("Google Cloud SDK")'], gcloud_env.environ(config), gcloud, work
    )
    return run.stdout.strip()


def _create_once(
    name: str, args: list[str], gcloud: str, work: Path
) -> tuple[Any, str | None, str]:
    """gcloud's (request, refusal, path) for one create command line."""
    with FakeGke() as fake:
        config = gcloud_env.write_config(work / name, fake.url, project=PROJECT)
        run = _run([*args, "--async"], gcloud_env.environ(config), gcloud, work)
        posts = fake.calls("POST")
    if run.returncode == 0 and len(posts) == 1:
        return posts[0].body, None, posts[0].path
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR:")]
    if posts or not errors:
        raise SystemExit(f"{name}: gcloud {' '.join(args)} failed:\n{run.stderr}")
    return None, errors[-1], ""


def record_create(name: str, case: Create, gcloud: str, work: Path) -> dict[str, Any]:
    printed = case.printed_args()
    printed_request, refused, path = _create_once(f"{name}-printed", printed, gcloud, work)
    if refused is not None:
        raise SystemExit(f"{name}: gcloud refused the printed command:\n{refused}")
    typed = case.typed_args()
    request, refused, typed_path = _create_once(name, typed, gcloud, work)
    if typed_path and typed_path != path:
        raise SystemExit(f"{name}: the typed and printed commands went to {typed_path}, {path}")
    entry: dict[str, Any] = {"knwalk": case.knwalk_args(), "gcloud": typed, "path": path}
    entry.update({"refused": refused} if refused is not None else {"request": request})
    entry.update({"printed": printed, "printed_request": printed_request})
    return entry


def _plugin_free_path(work: Path, gcloud: str) -> tuple[str, str]:
    """A PATH with gcloud and the tools its launcher needs, but without the auth plugin."""
    bin_dir = work / "path-without-plugin"
    bin_dir.mkdir()
    real = Path(os.path.realpath(gcloud))
    (bin_dir / "gcloud").symlink_to(real)
    for tool in ("dirname", "readlink", "uname", "sh", "bash", "python3", "which"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir), str(real.parent)


def record_credentials(
    name: str, case: Credentials, gcloud: str, work: Path
) -> tuple[dict[str, Any], str | None]:
    home = work / name
    with FakeGke() as fake:
        fake.add_cluster(PROJECT, ZONE, "knwalk", **json.loads(json.dumps(case.cluster)))
        served = fake.clusters[(PROJECT, ZONE, "knwalk")]
        config = gcloud_env.write_config(
            home / "gcloud", fake.url, project=PROJECT, properties=case.properties
        )
        kube_dir = home / "kube"
        kube_dir.mkdir(parents=True)
        kubeconfig = kube_dir / "config"
        if case.kubeconfig_before is not None:
            kubeconfig.write_text(case.kubeconfig_before)
        (kube_dir / CACHE).write_text('{"cached": "token of another account"}')
        extra = {"KUBECONFIG": str(kubeconfig)}
        sdk_bin = None
        command = gcloud
        if not case.plugin_on_path:
            extra["PATH"], sdk_bin = _plugin_free_path(home, gcloud)
            command = str(Path(extra["PATH"]) / "gcloud")
        args = ["container", "clusters", "get-credentials", "knwalk", "--zone", ZONE, *case.flags]
        run = _run(args, gcloud_env.environ(config, **extra), command, work)
        entry: dict[str, Any] = {
            "cluster": served,
            "gcloud": args,
            "properties": case.properties,
            "kubeconfig_before": case.kubeconfig_before,
            "plugin_on_path": case.plugin_on_path,
            "exit_code": run.returncode,
        }
        if run.returncode != 0:
            errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR:")]
            entry["error"] = errors[-1] if errors else run.stderr.strip().splitlines()[-1]
            return entry, None
        entry["cache_after"] = (kube_dir / CACHE).read_text()
        entry["kubeconfig_mode"] = oct(kubeconfig.stat().st_mode & 0o777)
        if sdk_bin is not None:
            entry["sdk_bin"] = sdk_bin
        return entry, kubeconfig.read_text()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gcloud", default=gcloud_env.GCLOUD, help="gcloud to record")
    parser.add_argument("--only", nargs="*", default=None, help="record only these cases")
    parser.add_argument("--out", type=Path, default=gcloud_env.FIXTURES)
    args = parser.parse_args(argv)
    if not args.gcloud:
        print(gcloud_env.SKIP_REASON, file=sys.stderr)
        return 1
    if not shutil.which("strace"):
        print(
            "Note: strace is not installed; gcloud's connections are not traced.", file=sys.stderr
        )
    out: Path = args.out
    (out / "kubeconfig").mkdir(parents=True, exist_ok=True)
    create_file, cred_file = out / "create.json", out / "get_credentials.json"
    with tempfile.TemporaryDirectory(prefix="knwalk-record-") as tmp:
        work = Path(tmp)
        version = _sdk_version(args.gcloud, work)
        creates = json.loads(create_file.read_text())["cases"] if create_file.exists() else {}
        creds = json.loads(cred_file.read_text())["cases"] if cred_file.exists() else {}
        for name, case in CREATE_CASES.items():
            if args.only is None or name in args.only:
                print(f"create {name}", file=sys.stderr)
                creates[name] = record_create(name, case, args.gcloud, work)
        for name, cred in CREDENTIAL_CASES.items():
            if args.only is None or name in args.only:
                print(f"get-credentials {name}", file=sys.stderr)
                entry, text = record_credentials(name, cred, args.gcloud, work)
                creds[name] = entry
                target = out / "kubeconfig" / f"{name}.yaml"
                if text is not None:
                    target.write_text(text)
                elif target.exists():
                    target.unlink()
        meta = {"sdk": version, "project": PROJECT, "recorded_by": "scripts/record_gcloud.py"}
        create_file.write_text(
            json.dumps({**meta, "cases": dict(sorted(creates.items()))}, indent=1) + "\n"
        )
        cred_file.write_text(
            json.dumps({**meta, "cases": dict(sorted(creds.items()))}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
