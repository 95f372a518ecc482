"""Knative Serving's rules, once: what knwalk's core and the sandbox both apply.

Pure and import-light, one module per concept. The package itself imports
nothing, so a process that needs one small module pays for that one only.
"""
