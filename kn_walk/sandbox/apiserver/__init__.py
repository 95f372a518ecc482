"""API server: HTTP only (aiohttp app and handlers, discovery, OpenAPI, protobuf, pod logs, fault injection).

Imports machinery and registry, never knative (tests/test_sandbox_layers.py)."""
