"""Knative's webhook and the controllers: Service, Configuration, Revision, Route and what they make.

Imports machinery and registry, never apiserver (tests/test_sandbox_layers.py)."""
