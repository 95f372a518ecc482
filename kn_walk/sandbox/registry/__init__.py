"""Registry and store: what exists and what a write means (the SQLite store, writes, built-in defaults, scale, Events).

Imports only :mod:`kn_walk.sandbox.machinery` (tests/test_sandbox_layers.py)."""
