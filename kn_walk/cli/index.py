"""The index of knwalk's top-level commands: where each lives and its one-line help.

``knwalk --help`` is rendered from this table alone, so it imports none of the
command modules (each pulls in typer's conversion of many signatures, and some
pull in more); a module is imported the first time one of its commands is run,
completed or asked for its own help. The one-line help here is also the one the
command registers (``short_help``), so the two cannot disagree; a test checks
that every module registers exactly the names the index gives it.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    module: str
    short_help: str


#: name -> where it is defined and its line in ``knwalk --help``; in the order listed there
COMMANDS: dict[str, Entry] = {
    "tour": Entry("kn_walk.cli.tour", "Run the whole walkthrough, narrated, on a local sandbox."),
    "deploy": Entry("kn_walk.cli.walkthrough", "Create or update the Service: a new Revision."),
    "status": Entry("kn_walk.cli.walkthrough", "Show the Service, its Revisions and its traffic."),
    "split": Entry("kn_walk.cli.walkthrough", "Split traffic between Revisions, and tag them."),
    "curl": Entry("kn_walk.cli.walkthrough", "Request the Service through the ingress gateway."),
    "delete": Entry("kn_walk.cli.walkthrough", "Delete the Service and everything it made."),
    "rollout": Entry(
        "kn_walk.cli.rollout", "Roll out a new Revision as a gated canary, step by step."
    ),
    "install": Entry("kn_walk.cli.install", "Install Istio or Kourier, then Knative Serving."),
    "uninstall": Entry("kn_walk.cli.install", "Remove what `knwalk install` applied."),
    "doctor": Entry("kn_walk.cli.install", "Check a context for the walkthrough."),
    "sandbox": Entry("kn_walk.cli.sandbox", "A local Kubernetes API with Knative and a gateway."),
    "cluster": Entry("kn_walk.cli.cluster", "GKE clusters: create, get-credentials, delete..."),
}


def short_help(name: str) -> str:
    """The one-line help of top-level command ``name``, for its module to register."""
    return COMMANDS[name].short_help
