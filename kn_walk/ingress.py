"""Where requests enter the cluster: the ingress gateway's address and the Host to send.

As the walkthrough does it, without kubectl: ``config-network``'s
``ingress-class`` (``knative-serving`` namespace) names the networking layer,
which fixes the gateway Service (Istio: ``istio-system/istio-ingressgateway``,
Kourier: ``kourier-system/kourier``, Contour: ``contour-external/envoy``). Its
address is ``status.loadBalancer.ingress[0].ip`` (or ``.hostname``), its port
the one named ``http2`` or ``http`` (80 if none). The sandbox serves the Istio
layout, so it is found the same way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kn_walk.errors import KnwalkError, UsageError
from kn_walk.knative_rules.hosts import host_of as host_of

if TYPE_CHECKING:
    from kn_walk.kube import Kube

SERVING_NAMESPACE = "knative-serving"
CONFIG_NETWORK = "config-network"

#: ingress class substring → (namespace, Service) of its gateway
GATEWAYS: dict[str, tuple[str, str]] = {
    "istio": ("istio-system", "istio-ingressgateway"),
    "kourier": ("kourier-system", "kourier"),
    "contour": ("contour-external", "envoy"),
}
DEFAULT_CLASS = "istio.ingress.networking.knative.dev"
PORT_NAMES = ("http2", "http")

GATEWAY_HINT = "pass the gateway's address with --gateway http://HOST:PORT"


@dataclass(frozen=True)
class Gateway:
    """An ingress gateway: the URL to connect to and where it was found."""

    url: str
    source: str  # "istio-system/istio-ingressgateway", or "--gateway"
    ingress_class: str = ""


def parse_gateway(text: str) -> Gateway:
    """``--gateway``: ``http://HOST[:PORT]`` (``https`` too); a bare ``HOST[:PORT]`` means http."""
    raw = text.strip()
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise UsageError(
            f"--gateway {text!r} is not a URL: {exc}", "write it as http://HOST:PORT"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--gateway {text!r} is not an http(s) URL", "write it as http://HOST:PORT"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(
            f"--gateway {text!r} has a path or query",
            "give only the address; use --path for the path",
        )
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is not None:
        netloc += f":{port}"
    return Gateway(f"{parts.scheme}://{netloc}", "--gateway")


def parse_host(text: str) -> str:
    """``--host``: a DNS name (the Host header to send)."""
    host = text.strip().rstrip(".")
    labels = host.split(".") if host else []
    ok = bool(labels) and len(host) <= 253
    for label in labels:
        if not (0 < len(label) <= 63 and label[0].isalnum() and label[-1].isalnum()):
            ok = False
        if not all(c.isalnum() or c == "-" for c in label) or not label.isascii():
            ok = False
    if not ok:
        raise UsageError(
            f"--host {text!r} is not a host name",
            "give a name like helloworld-go.default.example.com",
        )
    return host.lower()


def configured_class(kube: Kube) -> str | None:
    """The ingress class ``config-network`` names (``ingress-class``, or the older
    ``ingress.class``); None when it names none."""
    cm = kube.get_core("ConfigMap", CONFIG_NETWORK, SERVING_NAMESPACE)
    data: dict[str, Any] = (cm or {}).get("data") or {}
    value = data.get("ingress-class") or data.get("ingress.class")
    return str(value) if value else None


def ingress_class(kube: Kube) -> str:
    """The ingress class in use: ``config-network``'s, else Knative's default (Istio)."""
    return configured_class(kube) or DEFAULT_CLASS


def service_address(svc: Mapping[str, Any] | None) -> str | None:
    """A Service's external address: its load balancer's first ``ip`` or ``hostname``."""
    ingress = (((svc or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    for entry in ingress:
        value = entry.get("ip") or entry.get("hostname")
        if value:
            return str(value)
    return None


def _port(svc: Mapping[str, Any]) -> int:
    ports = (svc.get("spec") or {}).get("ports") or []
    for wanted in PORT_NAMES:
        for p in ports:
            if p.get("name") == wanted and p.get("port"):
                return int(p["port"])
    return 80


def _url(address: str, port: int) -> str:
    try:
        if ipaddress.ip_address(address).version == 6:
            address = f"[{address}]"
    except ValueError:
        pass
    return f"http://{address}" + ("" if port == 80 else f":{port}")


def service_url(svc: dict[str, Any]) -> str | None:
    """A gateway Service's URL from its external address and HTTP port; None while it has none."""
    address = service_address(svc)
    return None if address is None else _url(address, _port(svc))


def gateway_url(svc: Mapping[str, Any] | None, address: str) -> str:
    """The URL of a gateway Service (its HTTP port; 80 when it has none) at ``address``."""
    return _url(address, _port(svc or {}))


def discover(kube: Kube) -> Gateway:
    """The gateway of the context's Knative networking layer, by its external address."""
    klass = ingress_class(kube)
    match = next((v for k, v in GATEWAYS.items() if k in klass.lower()), None)
    if match is None:
        raise KnwalkError(
            f"ingress class {klass!r} (config-network) is not one knwalk knows "
            f"({', '.join(GATEWAYS)})",
            GATEWAY_HINT,
        )
    namespace, name = match
    svc = kube.get_core("Service", name, namespace)
    if svc is None:
        raise KnwalkError(
            f"the ingress gateway Service {namespace}/{name} does not exist "
            f"in context {kube.context} (ingress class {klass})",
            f"install the networking layer with `knwalk install`, or {GATEWAY_HINT}",
        )
    url = service_url(svc)
    if url is None:
        raise KnwalkError(
            f"the ingress gateway {namespace}/{name} has no external address yet "
            "(its LoadBalancer is pending)",
            "wait a minute and retry; or run `kubectl -n "
            f"{namespace} port-forward svc/{name} 8080:80` and {GATEWAY_HINT.replace('HOST:PORT', '127.0.0.1:8080')}",
        )
    return Gateway(url, f"{namespace}/{name}", klass)
