"""ingress: parsing --gateway / --host, gateway address and port rules (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from kn_walk import ingress
from kn_walk.errors import UsageError


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://gw.example.com/", "https://gw.example.com"),
        ("http://[::1]:81", "http://[::1]:81"),
        ("HTTP://GW.EXAMPLE.COM", "http://gw.example.com"),
    ],
)
def test_parse_gateway(text: str, url: str) -> None:
    assert ingress.parse_gateway(text).url == url


@pytest.mark.parametrize(
    "text", ["ftp://x", "http://", "http://x:99999", "http://x/p", "http://x?q=1", "http://x:abc"]
)
def test_parse_gateway_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        ingress.parse_gateway(text)


@pytest.mark.parametrize(
    ("text", "host"),
    [("Hello.Default.Example.com.", "hello.default.example.com"), ("localhost", "localhost")],
)
def test_parse_host(text: str, host: str) -> None:
    assert ingress.parse_host(text) == host


@pytest.mark.parametrize("text", ["", "a b", "-a.com", "a..b", "x" * 64 + ".com", "ünï.com", "a/b"])
def test_parse_host_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        ingress.parse_host(text)


def test_host_of_url() -> None:
    assert ingress.host_of("http://current-hello.ns.example.com") == "current-hello.ns.example.com"


def svc(ports: list[dict[str, Any]], lb: list[dict[str, Any]]) -> dict[str, Any]:
    return {"spec": {"ports": ports}, "status": {"loadBalancer": {"ingress": lb}}}


def test_address_and_port_rules() -> None:
    s = svc(
        [{"name": "status-port", "port": 15021}, {"name": "http2", "port": 80}],
        [{"hostname": "lb.example.com"}],
    )
    assert ingress.service_address(s) == "lb.example.com"
    assert ingress._port(s) == 80
    assert ingress._port(svc([{"name": "http", "port": 8080}], [])) == 8080
    assert ingress._port(svc([{"name": "https", "port": 443}], [])) == 80
    assert ingress.service_address(svc([], [])) is None
    assert ingress.service_address(None) is None
    assert ingress.service_address({"status": {"loadBalancer": None}}) is None
    assert ingress.service_address(svc([], [{"ip": "10.0.0.1"}])) == "10.0.0.1"
    assert ingress._url("10.0.0.1", 80) == "http://10.0.0.1"
    assert ingress._url("fd00::1", 8080) == "http://[fd00::1]:8080"
