"""Helpers for tests that talk to a sandbox through the real kubernetes client."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

GROUP, VERSION = "serving.knative.dev", "v1"
IMAGE = "gcr.io/knative-samples/helloworld-go"


def service_manifest(target: str, traffic: str = "", name: str = "helloworld-go") -> str:
    """The walkthrough's Service manifest as a user writes it (YAML), plus ``traffic``."""
    return (
        f"""\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {name}
spec:
  template:
    spec:
      containers:
        - image: {IMAGE}
          env:
            - name: TARGET
              value: "{target}"
"""
        + traffic
    )


def ksvc(
    name: str,
    target: str = "Go Sample v1",
    image: str = "gcr.io/knative-samples/helloworld-go",
    traffic: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The walkthrough's Service manifest."""
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"image": image, "env": [{"name": "TARGET", "value": target}]}]
                }
            }
        },
    }
    if traffic is not None:
        body["spec"]["traffic"] = traffic
    return body


def ready(obj: dict[str, Any]) -> bool:
    st = obj.get("status") or {}
    if st.get("observedGeneration") != obj["metadata"].get("generation"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or []
    )


def wait_for(
    api_client: Any,
    plural: str,
    namespace: str,
    name: str,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Watch one object until ``predicate`` holds; fail after ``timeout`` seconds."""
    from kubernetes import client, watch

    api = client.CustomObjectsApi(api_client)
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        objs = api.list_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, field_selector=f"metadata.name={name}"
        )
        for obj in objs["items"]:
            last = obj
            if predicate(obj):
                return obj
        w = watch.Watch()
        for ev in w.stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            field_selector=f"metadata.name={name}",
            resource_version=objs["metadata"]["resourceVersion"],
            timeout_seconds=max(1, int(deadline - time.monotonic())),
        ):
            last = ev["object"]
            if ev["type"] != "DELETED" and predicate(ev["object"]):
                w.stop()
                return ev["object"]
    raise AssertionError(f"{plural}/{name} did not reach the condition in {timeout}s; last: {last}")


def wait_until(
    what: str, read: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 20
) -> Any:
    """``read()`` until ``ok`` holds of it; its last value (fails naming ``what``)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not ok(value):
        assert time.monotonic() < deadline, f"{what}: not reached in {timeout}s: {value}"
        time.sleep(0.05)
        value = read()
    return value
