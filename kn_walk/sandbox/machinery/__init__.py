"""Machinery: pure Kubernetes semantics with no I/O (errors, decoding, schemas, patch, apply, selectors, tables).

Imports nothing from the other layers of the sandbox (tests/test_sandbox_layers.py)."""
