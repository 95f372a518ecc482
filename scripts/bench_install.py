#!/usr/bin/env python3
"""Benchmarks of issue 6: ``knwalk install`` / ``uninstall`` and the manifest cache.

    .venv/bin/python scripts/bench_install.py [--runs 5] [--objects 300] [--json]

Each run starts a private sandbox (temporary state dir and kubeconfig) with the
seeded Knative namespaces removed, as on a fresh cluster, and a thread that
gives LoadBalancer Services an address (the cloud controller's job). Measured,
as the median and min of ``--runs`` (wall seconds of whole processes unless
said otherwise):

* ``knwalk install --manifests tests/fixtures/manifests`` on the fresh cluster
  (51 objects, 7 steps, waits included);
* the same command again (everything up to date: one list per kind and
  namespace plus one no-op apply per object);
* the dry run's ``kubectl apply --server-side`` commands with the real kubectl,
  for comparison (if kubectl is installed);
* ``knwalk uninstall --yes``;
* in-process: install and re-install of a synthetic release with ``--objects``
  more ConfigMaps and Deployments in serving-core.yaml (objects per second);
* in-process: ``manifests.fetch`` of a 4 MB file from a loopback HTTP server,
  then from the cache (sha256 verified).

Targets: none are set by the issue; the figures are recorded in the reply.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kn_walk import install as I  # noqa: E402
from kn_walk import manifests as M  # noqa: E402
from kn_walk.sandbox import control  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "manifests"
KNWALK = [sys.executable, "-m", "kn_walk"]
if (Path(sys.executable).parent / "knwalk").exists():
    KNWALK = [str(Path(sys.executable).parent / "knwalk")]


# --------------------------------------------------------------------------- a fresh cluster


class LoadBalancers:
    """Gives every LoadBalancer Service 127.0.0.1, like a cloud controller (a watch thread)."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client, watch

        self.core = client.CoreV1Api(api_client)
        self.watch = watch.Watch()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            with contextlib.suppress(Exception):
                for event in self.watch.stream(
                    self.core.list_service_for_all_namespaces, timeout_seconds=5
                ):
                    svc = event["raw_object"]
                    lb = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress")
                    if (svc.get("spec") or {}).get("type") == "LoadBalancer" and not lb:
                        meta = svc["metadata"]
                        self.core.patch_namespaced_service_status(
                            meta["name"],
                            meta["namespace"],
                            {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}},
                        )

    def stop(self) -> None:
        self.stopped.set()
        self.watch.stop()
        self.thread.join(10)
        poke = {"metadata": {"name": "bench-stop"}, "spec": {"ports": [{"port": 80}]}}
        with contextlib.suppress(Exception):
            self.core.create_namespaced_service("default", poke)
            self.core.delete_namespaced_service("bench-stop", "default")


@contextlib.contextmanager
def fresh_cluster() -> Iterator[tuple[Path, dict[str, str]]]:
    from kubernetes import client, config

    tmp = Path(tempfile.mkdtemp(prefix="knwalk-bench-"))
    state, kubeconfig = tmp / "state", tmp / "kubeconfig"
    info, _ = control.start(state)
    control.write_kubeconfig(info, kubeconfig)
    api = config.new_client_from_config(config_file=str(kubeconfig), context=control.CONTEXT)
    core = client.CoreV1Api(api)
    for ns in ("knative-serving", "istio-system"):
        core.delete_namespace(ns)
    lbs = LoadBalancers(api)
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), XDG_CACHE_HOME=str(tmp / "cache"))
    env["NO_COLOR"] = "1"
    try:
        yield kubeconfig, env
    finally:
        lbs.stop()
        api.close()
        control.stop(state)
        shutil.rmtree(tmp, ignore_errors=True)


def wall(cmd: list[str] | str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=False, shell=isinstance(cmd, str)
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{proc.stdout}{proc.stderr}")
    return took


def stats(samples: list[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples)}


# --------------------------------------------------------------------------- measurements


def bench_cli(runs: int) -> dict[str, dict[str, float]]:
    install = [*KNWALK, "install", "--manifests", str(FIXTURES), "--yes"]
    out: dict[str, list[float]] = {"install": [], "reinstall": [], "uninstall": []}
    kubectl: list[float] = []
    for _ in range(runs):
        with fresh_cluster() as (_, env):
            out["install"].append(wall(install, env))
            out["reinstall"].append(wall(install, env))
            out["uninstall"].append(
                wall([*KNWALK, "uninstall", "--manifests", str(FIXTURES), "--yes"], env)
            )
        if shutil.which("kubectl"):
            with fresh_cluster() as (_, env):
                plan = subprocess.run(
                    [*KNWALK, "install", "--dry-run", "--manifests", str(FIXTURES), "-o", "json"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                commands = [s["kubectl"] for s in json.loads(plan.stdout)["steps"]]
                wall(" && ".join(commands), env)  # first apply
                kubectl.append(wall(" && ".join(commands), env))  # the re-apply
    result = {k: stats(v) for k, v in out.items()}
    if kubectl:
        result["kubectl re-apply (7 commands)"] = stats(kubectl)
    return result


def synthetic_release(folder: Path, extra: int) -> None:
    """The fixture with ``extra`` more objects in serving-core.yaml (ConfigMaps and Deployments)."""
    shutil.copytree(FIXTURES, folder)
    docs = []
    for i in range(extra):
        if i % 2:
            docs.append(
                f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench-{i}\n"
                f"  namespace: knative-serving\ndata:\n  key: value-{i}\n"
            )
        else:
            docs.append(
                f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bench-{i}\n"
                "  namespace: knative-serving\nspec:\n  selector:\n    matchLabels:\n"
                f"      app: bench-{i}\n  template:\n    metadata:\n      labels:\n"
                f"        app: bench-{i}\n    spec:\n      containers:\n        - name: c\n"
                "          image: gcr.io/knative-samples/helloworld-go\n"
            )
    with (folder / M.SERVING_CORE).open("a") as f:
        f.write("\n---\n" + "---\n".join(docs))


def bench_scale(runs: int, extra: int) -> dict[str, Any]:
    first: list[float] = []
    again: list[float] = []
    count = 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp, fresh_cluster() as (kubeconfig, _):
            folder = Path(tmp) / "m"
            synthetic_release(folder, extra)
            release = M.release_for("1.22.1")
            source = M.parse_source(str(folder))
            plan = M.plan_install(
                release, "istio", "example.com", source, M.fetch(release, "istio", source)
            )
            count = len(plan.objects)
            with I.connect(kubeconfig, None) as cluster:
                start = time.perf_counter()
                I.install(cluster, plan, wait_timeout=60)
                first.append(time.perf_counter() - start)
                start = time.perf_counter()
                I.install(cluster, plan, wait_timeout=60)
                again.append(time.perf_counter() - start)
    return {
        "objects": count,
        "install": stats(first),
        "reinstall": stats(again),
        "install objects/s": count / statistics.median(first),
        "reinstall objects/s": count / statistics.median(again),
    }


def bench_download(runs: int) -> dict[str, Any]:
    body = (FIXTURES / M.ISTIO).read_bytes()
    big = body * (4 * 1024 * 1024 // len(body) + 1)
    files = {p.name: p.read_bytes() for p in FIXTURES.glob("*.yaml")}
    files[M.ISTIO] = big

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            data = files[self.path.rsplit("/", 1)[-1]]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    downloads: list[float] = []
    hits: list[float] = []
    try:
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                cache = Path(tmp)
                source = M.parse_source(url)
                release = M.release_for("1.22.1")
                start = time.perf_counter()
                M.fetch(release, "istio", source, cache_dir=cache)
                downloads.append(time.perf_counter() - start)
                start = time.perf_counter()
                fetched = M.fetch(release, "istio", source, cache_dir=cache)
                hits.append(time.perf_counter() - start)
                assert all(f.cached for f in fetched)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    size = sum(len(v) for k, v in files.items() if k != M.KOURIER)
    return {
        "bytes": size,
        "download": stats(downloads),
        "cache hit (sha256 verified)": stats(hits),
        "download MB/s": size / statistics.median(downloads) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {
        "cli": bench_cli(args.runs),
        "scale": bench_scale(max(1, args.runs // 2), args.objects),
        "download": bench_download(args.runs),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'measure':<44} {'median':>9} {'min':>9}")
    for name, value in results["cli"].items():
        print(f"{'CLI ' + name:<44} {value['median']:>8.3f}s {value['min']:>8.3f}s")
    scale = results["scale"]
    for name in ("install", "reinstall"):
        label = f"core {name}, {scale['objects']} objects"
        print(f"{label:<44} {scale[name]['median']:>8.3f}s {scale[name]['min']:>8.3f}s")
    print(
        f"{'  objects/s (install / reinstall)':<44} "
        f"{scale['install objects/s']:>9.0f} {scale['reinstall objects/s']:>9.0f}"
    )
    dl = results["download"]
    for name in ("download", "cache hit (sha256 verified)"):
        label = f"fetch {dl['bytes'] / 1e6:.1f} MB: {name}"
        print(f"{label:<44} {dl[name]['median']:>8.3f}s {dl[name]['min']:>8.3f}s")
    print(f"{'  download MB/s (loopback)':<44} {dl['download MB/s']:>9.0f}")


if __name__ == "__main__":
    main()
