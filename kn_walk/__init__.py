"""knwalk: the Knative walkthrough as typed, tested commands."""

__version__ = "0.1.0"
