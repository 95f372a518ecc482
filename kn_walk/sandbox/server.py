"""The sandbox process: ``python -m kn_walk.sandbox.server --state-dir DIR ...``.

It binds 127.0.0.1 only, takes the state dir's lock (or exits at once: one
server per state dir, see :mod:`kn_walk.sandbox.control`), loads (or creates)
the state dir, seeds the objects a Knative cluster has, runs the API, the
controllers and the data plane, and writes ``sandbox.json`` once it answers,
which is what ``knwalk sandbox up`` waits for.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import errno
import fcntl
import json
import logging
import os
import secrets
import signal
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from kn_walk.knative_rules.goparse import SECOND, duration_string
from kn_walk.knative_rules.hosts import CLUSTER_LOCAL_DOMAIN
from kn_walk.knative_rules.network_config import DomainConfig
from kn_walk.sandbox.apiserver.api import ApiState, create_app
from kn_walk.sandbox.apiserver.apiservices import APIServiceAdmission, APIServices
from kn_walk.sandbox.apiserver.conns import (
    Listener,
    api_limits,
    api_protocol_factory,
    raise_open_file_limit,
)
from kn_walk.sandbox.apiserver.faults import Faults, load_rules
from kn_walk.sandbox.certs import ensure_certificates
from kn_walk.sandbox.control import (
    DB_FILE,
    EXIT_LOCKED,
    LISTENERS,
    LOCK_FILE,
    LOG_FILE,
    PORTS_FILE,
    STATE_FILE,
    TOKEN_FILE,
    lock_holder,
    read_ports,
    try_lock,
    write_holder,
)
from kn_walk.sandbox.dataplane.wiring import DataPlane
from kn_walk.sandbox.knative import release
from kn_walk.sandbox.knative.admission import KnativeWebhook
from kn_walk.sandbox.knative.config_webhook import SANDBOX_FLAGS_USER, ConfigWebhook
from kn_walk.sandbox.knative.serving import SYSTEM_NAMESPACE, ServingController
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import Registry, knative_crds
from kn_walk.sandbox.node import controlplane
from kn_walk.sandbox.node.portforward import LocalPorts, ensure_gateway_pod, pod_connect
from kn_walk.sandbox.registry.builtin import BuiltinDefaults
from kn_walk.sandbox.registry.resources import Resources, WriteOptions, rkey
from kn_walk.sandbox.registry.store import EVENT_LOG_SIZE, QUOTA_BYTES, Obj, Store

log = logging.getLogger("knwalk.sandbox")

SERVING_VERSION = "1.23.0"
LOOPBACK = "127.0.0.1"
GATEWAY_NAMESPACE = "istio-system"
GATEWAY_SERVICE = "istio-ingressgateway"
#: net-istio's cluster-local gateway Service (the same gateway Pods, another port)
LOCAL_GATEWAY_SERVICE = "knative-local-gateway"
INGRESS_CLASS = "istio.ingress.networking.knative.dev"
SEED_MANAGER = "knwalk-sandbox"


def ensure_state_dir(path: Path) -> None:
    from kn_walk.kubeconfig import private_dirs

    private_dirs(path)  # every directory created on the way is 0700 too
    os.chmod(path, 0o700)


def take_lock(state_dir: Path, inherited: int | None) -> int | None:
    """Hold the state dir's lock for the life of this process: the descriptor, or None when
    another process holds it. ``inherited`` is the lock ``knwalk sandbox up`` took and handed
    over (so that no other ``up`` could start a server in between)."""
    if inherited is not None:
        try:
            ours = os.path.samestat(
                os.fstat(inherited), os.stat(state_dir / LOCK_FILE, follow_symlinks=False)
            )
            fcntl.flock(inherited, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours: already held
        except OSError:
            ours = False
        if ours:
            os.set_inheritable(inherited, False)  # revision processes must not hold it
            write_holder(inherited, os.getpid())
            return inherited
    fd = try_lock(state_dir)
    if fd is not None:
        write_holder(fd, os.getpid())
    return fd


def read_or_create_token(state_dir: Path) -> str:
    """A random bearer token per state dir, stored 0600."""
    p = state_dir / TOKEN_FILE
    try:
        token = p.read_text().strip()
        if token:
            os.chmod(p, 0o600)
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(p, 0o600)
    return token


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def bind_loopback(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(512)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def bind_listeners(
    state_dir: Path, asked: dict[str, int]
) -> tuple[dict[str, socket.socket], list[dict[str, int | str]]]:
    """Bind each listener (:data:`LISTENERS`) on 127.0.0.1: the port ``asked`` for it, else
    the one it had under the state dir's last server while that is free (so that an
    ``INGRESS_PORT`` exported before a restart still holds), else a new one. Returns the
    sockets and the listeners whose remembered port was taken (``moved``: what ``up``
    says), and remembers the ports for the next server (PORTS_FILE)."""
    previous = read_ports(state_dir)
    socks: dict[str, socket.socket] = {}
    moved: list[dict[str, int | str]] = []
    for name in LISTENERS:
        was = 0 if asked.get(name) else previous.get(name, 0)
        sock = None
        if was:
            try:
                sock = bind_loopback(was)
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
        if sock is None:
            sock = bind_loopback(asked.get(name, 0))
            if was:
                moved.append({"listener": name, "was": was, "port": sock.getsockname()[1]})
                log.info("port %d of the %s was taken; now %d", was, name, moved[-1]["port"])
        socks[name] = sock
    write_private_json(
        state_dir / PORTS_FILE, {name: sock.getsockname()[1] for name, sock in socks.items()}
    )
    return socks, moved


class Sandbox:
    def __init__(
        self,
        state_dir: Path,
        *,
        api_port: int = 0,
        gateway_port: int = 0,
        domain: str | None = None,
        stable_window: float | None = None,
        scale_to_zero_grace: float | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.api_port = api_port
        self.gateway_port = gateway_port
        self.domain = domain
        self.stable_window = stable_window
        self.scale_to_zero_grace = scale_to_zero_grace
        self.stopping = asyncio.Event()
        self.faults = faults or Faults()

    async def run(self) -> None:
        ensure_state_dir(self.state_dir)
        token = read_or_create_token(self.state_dir)
        store = Store(
            str(self.state_dir / DB_FILE),
            event_log_size=int(os.environ.get("KNWALK_SANDBOX_EVENT_LOG_SIZE") or EVENT_LOG_SIZE),
            quota_bytes=int(os.environ.get("KNWALK_SANDBOX_QUOTA_BYTES") or QUOTA_BYTES),
        )
        registry = Registry.default()
        res = Resources(store, registry)
        load_balancer = os.environ.get("KNWALK_SANDBOX_LOAD_BALANCER", "1") != "0"
        res.admission = [
            BuiltinDefaults(load_balancer=load_balancer),
            KnativeWebhook(),
            ConfigWebhook(),
            APIServiceAdmission(),
        ]

        def reload_crds() -> None:
            crd_type = registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            assert crd_type is not None
            names = set()
            for crd in store.list_objects(rkey(crd_type)):
                names.add(crd["metadata"]["name"])
                registry.add_crd(crd)
            for t in list(registry.all()):
                if t.custom and f"{t.plural}.{t.group}" not in names:
                    registry.remove_crd(f"{t.plural}.{t.group}")

        res.on_crd_change.append(reload_crds)
        _, crt, key = ensure_certificates(self.state_dir)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(str(crt), str(key))
        socks, moved = bind_listeners(
            self.state_dir, {"api": self.api_port, "gateway": self.gateway_port}
        )
        api_sock, gw_sock, local_sock = socks["api"], socks["gateway"], socks["local-gateway"]
        api_port = api_sock.getsockname()[1]
        gateway_port = gw_sock.getsockname()[1]
        local_gateway_port = local_sock.getsockname()[1]
        self.seed(res, gateway_port, local_gateway_port)
        controlplane.seed(res, api_port=api_port, state_dir=self.state_dir, manager=SEED_MANAGER)
        ensure_gateway_pod(res, gateway_port, SEED_MANAGER)
        reload_crds()
        aggregator = APIServices(res)
        aggregator.register(on_start=True)
        await aggregator.start()

        controller = ServingController(res)
        # the windows and enable-scale-to-zero come from config-autoscaler, as it is now
        dataplane = DataPlane(res, controller, self.state_dir, gw_sock, local_sock)
        controller.start()
        await dataplane.start()
        app = create_app(
            ApiState(
                res,
                token,
                f"{LOOPBACK}:{api_port}",
                self.faults,
                pod_logs=dataplane.pods.log_file,
                pod_connect=pod_connect(LocalPorts(dataplane.workloads, gateway_port)),
            )
        )
        limits = api_limits()
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=2.0,
            keepalive_timeout=limits.idle_timeout,
        )
        await runner.setup()
        assert runner.server is not None
        api_listener = Listener(
            api_sock,
            api_protocol_factory(runner.server, limits),
            name="API",
            max_connections=limits.max_connections,
            ssl_context=tls,
            handshake_timeout=limits.header_timeout,  # Go bounds the handshake by it too
        )
        api_listener.start()
        write_private_json(
            self.state_dir / STATE_FILE,
            {
                "pid": os.getpid(),
                "api_port": api_port,
                "gateway_port": gateway_port,
                "api": f"https://{LOOPBACK}:{api_port}",
                "gateway": f"http://{LOOPBACK}:{gateway_port}",
                "local_gateway_port": local_gateway_port,
                "started": time.time(),
                "domain": self.current_domain(res),
                "moved": moved,
            },
        )
        log.info(
            "sandbox API on https://%s:%d, gateway port %d, cluster-local gateway port %d",
            LOOPBACK,
            api_port,
            gateway_port,
            local_gateway_port,
        )
        # the system Deployments come up once the API answers (their Pods replace the
        # gateway's stand-in Pod)
        installing = asyncio.create_task(
            release.install_workloads(
                res,
                WriteOptions(manager=SEED_MANAGER, field_validation="Ignore"),
                gateway=f"{LOOPBACK}:{gateway_port}",
                then=lambda: ensure_gateway_pod(res, gateway_port, SEED_MANAGER),
            )
        )
        try:
            await self.stopping.wait()
        finally:
            log.info("stopping")
            installing.cancel()
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / STATE_FILE).unlink()
            api_listener.close()
            await dataplane.stop()
            await controller.stop()
            await aggregator.stop()
            await runner.cleanup()
            store.close()

    @staticmethod
    def current_domain(res: Resources) -> str:
        cm_type = res.registry.get("", "v1", "configmaps")
        assert cm_type is not None
        cm = res.find(cm_type, SYSTEM_NAMESPACE, "config-domain")
        try:  # the domain of a Route without labels
            return DomainConfig.from_data((cm or {}).get("data") or {}).lookup({})
        except ValueError:
            return CLUSTER_LOCAL_DOMAIN

    def seed(self, res: Resources, gateway_port: int, local_gateway_port: int) -> None:
        """Create what a cluster with Knative Serving has; keep what the user changed (but
        the gateway Services' ports, which are the listeners')."""
        reg = res.registry
        opts = WriteOptions(manager=SEED_MANAGER, field_validation="Ignore")

        def ensure(group: str, plural: str, obj: Obj, *, replace: bool = False) -> Obj:
            rt = reg.get(group, "v1", plural)
            assert rt is not None
            ns = obj["metadata"].get("namespace", "")
            cur = res.find(rt, ns, obj["metadata"]["name"])
            if cur is None:
                return res.create(rt, ns, obj, opts)
            if replace:
                new = copy.deepcopy(cur)
                for k, v in obj.items():
                    if k not in ("metadata", "status"):
                        new[k] = v
                new["metadata"].setdefault("labels", {}).update(obj["metadata"].get("labels") or {})
                return res.update(rt, ns, obj["metadata"]["name"], new, opts)
            return cur

        serving_labels = {
            "app.kubernetes.io/name": "knative-serving",
            "app.kubernetes.io/version": SERVING_VERSION,
        }
        for ns in (
            "default",
            "kube-system",
            "kube-public",
            "kube-node-lease",
            SYSTEM_NAMESPACE,
            GATEWAY_NAMESPACE,
        ):
            labels = serving_labels if ns == SYSTEM_NAMESPACE else {}
            ensure("", "namespaces", {"metadata": {"name": ns, "labels": dict(labels)}})
        for crd in knative_crds():
            body = copy.deepcopy(crd)
            labels = body["metadata"].setdefault("labels", {})
            if labels.get("app.kubernetes.io/version") == "devel":  # Knative's; not Istio's
                labels["app.kubernetes.io/version"] = SERVING_VERSION
            ensure("apiextensions.k8s.io", "customresourcedefinitions", body, replace=True)
        if self.domain is not None:
            ensure(
                "",
                "configmaps",
                self._configmap(
                    "config-domain", {self.domain: ""} if self.domain else {}, serving_labels
                ),
                replace=True,
            )
        else:
            ensure(
                "",
                "configmaps",
                self._configmap("config-domain", {"example.com": ""}, serving_labels),
            )
        ensure(
            "",
            "configmaps",
            self._configmap("config-network", {"ingress-class": INGRESS_CLASS}, serving_labels),
        )
        self._seed_autoscaler(res, serving_labels)
        gw = ensure(
            "",
            "services",
            {
                "metadata": {
                    "name": GATEWAY_SERVICE,
                    "namespace": GATEWAY_NAMESPACE,
                    "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
                },
                "spec": {
                    "type": "LoadBalancer",
                    "selector": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
                    "ports": [
                        {
                            "name": "http2",
                            "port": gateway_port,
                            "targetPort": gateway_port,
                            "protocol": "TCP",
                        }
                    ],
                },
            },
            replace=True,
        )
        svc_type = reg.get("", "v1", "services")
        assert svc_type is not None
        status = {"loadBalancer": {"ingress": [{"ip": LOOPBACK, "ipMode": "VIP"}]}}
        if gw.get("status") != status:
            new = copy.deepcopy(gw)
            new["status"] = status
            try:
                res.update(
                    svc_type,
                    GATEWAY_NAMESPACE,
                    GATEWAY_SERVICE,
                    new,
                    WriteOptions(manager=SEED_MANAGER, subresource="status"),
                )
            except E.StatusError as err:  # pragma: no cover - seeding must not fail silently
                raise RuntimeError(err.message) from err
        # net-istio's: a ClusterIP Service whose http2 port (80 -> 8081 in a cluster) is
        # the cluster-local listener's, on 127.0.0.1
        ensure(
            "",
            "services",
            {
                "metadata": {
                    "name": LOCAL_GATEWAY_SERVICE,
                    "namespace": GATEWAY_NAMESPACE,
                    "labels": {
                        "app.kubernetes.io/component": "net-istio",
                        "app.kubernetes.io/name": "knative-serving",
                        "app.kubernetes.io/version": SERVING_VERSION,
                        "networking.knative.dev/ingress-provider": "istio",
                        "experimental.istio.io/disable-gateway-port-translation": "true",
                    },
                },
                "spec": {
                    "type": "ClusterIP",
                    "selector": {"istio": "ingressgateway"},
                    "ports": [
                        {
                            "name": "http2",
                            "port": local_gateway_port,
                            "targetPort": local_gateway_port,
                            "protocol": "TCP",
                        }
                    ],
                },
            },
            replace=True,
        )
        release.seed(res, opts, gateway=f"{LOOPBACK}:{gateway_port}")

    def _seed_autoscaler(self, res: Resources, labels: dict[str, str]) -> None:
        """config-autoscaler as the release ships it; ``--stable-window`` and
        ``--scale-to-zero-grace`` set their keys in it (and nothing else: the running
        sandbox reads the ConfigMap, see :mod:`kn_walk.sandbox.knative.live_config`). Written as
        :data:`SANDBOX_FLAGS_USER`, the one writer whose windows may be below upstream's
        bounds (:mod:`kn_walk.sandbox.knative.config_webhook`)."""
        name = "config-autoscaler"
        rt = res.registry.get("", "v1", "configmaps")
        assert rt is not None
        flags = {
            key: duration_string(round(seconds * SECOND))
            for key, seconds in (
                ("stable-window", self.stable_window),
                ("scale-to-zero-grace-period", self.scale_to_zero_grace),
            )
            if seconds is not None
        }
        opts = WriteOptions(
            manager=SEED_MANAGER, field_validation="Ignore", user=SANDBOX_FLAGS_USER
        )
        cur = res.find(rt, SYSTEM_NAMESPACE, name)
        if cur is None:
            body = self._configmap(name, flags, labels)
            res.create(rt, SYSTEM_NAMESPACE, body, opts)
        elif flags and any((cur.get("data") or {}).get(k) != v for k, v in flags.items()):
            new = copy.deepcopy(cur)
            new["data"] = {**(cur.get("data") or {}), **flags}
            res.update(rt, SYSTEM_NAMESPACE, name, new, opts)

    @staticmethod
    def _configmap(name: str, data: dict[str, str], labels: dict[str, str]) -> Obj:
        """A ConfigMap of knative-serving as the release ships it (its ``_example`` and
        the annotation with its checksum), with the sandbox's settings in ``data``."""
        meta: Obj = {
            "name": name,
            "namespace": SYSTEM_NAMESPACE,
            "labels": {**release.upstream_labels(name), **labels},
        }
        if annotations := release.upstream_annotations(name):
            meta["annotations"] = annotations
        return {"metadata": meta, "data": {**release.upstream_data(name), **data}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kn_walk.sandbox.server")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--api-port", type=int, default=0)
    parser.add_argument("--gateway-port", type=int, default=0)
    parser.add_argument("--domain", default=None)
    parser.add_argument("--stable-window", type=float, default=None)
    parser.add_argument("--scale-to-zero-grace", type=float, default=None)
    parser.add_argument("--faults", default=None, help="JSON/YAML list of fault rules (tests only)")
    parser.add_argument("--lock-fd", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    state_dir = Path(args.state_dir)
    faults = Faults()
    if args.faults:
        try:
            faults = Faults(load_rules(Path(args.faults)))
        except ValueError as exc:
            print(f"sandbox: --faults {args.faults}: {exc}", file=sys.stderr)
            return 2
    ensure_state_dir(state_dir)
    # before anything is written: the token, keys and database belong to the lock's holder
    lock_fd = take_lock(state_dir, args.lock_fd)
    if lock_fd is None:
        _, holder = lock_holder(state_dir)
        print(
            f"sandbox: another sandbox already runs on {state_dir} (pid {holder or 'unknown'}); "
            "stop it first (knwalk sandbox down)",
            file=sys.stderr,
        )
        return EXIT_LOCKED
    with contextlib.suppress(FileNotFoundError):
        (state_dir / STATE_FILE).unlink()  # left by a server that was killed
    log_path = state_dir / LOG_FILE
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    os.chmod(log_path, 0o600)
    logging.basicConfig(
        filename=str(log_path),
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log.info("open-file limit %d", raise_open_file_limit())
    sandbox = Sandbox(
        state_dir,
        api_port=args.api_port,
        gateway_port=args.gateway_port,
        domain=args.domain,
        stable_window=args.stable_window,
        scale_to_zero_grace=args.scale_to_zero_grace,
        faults=faults,
    )

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, sandbox.stopping.set)
        await sandbox.run()

    try:
        asyncio.run(runner())
    except OSError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
