"""Knative Serving rules that knwalk and the sandbox both apply, defined once.

Pure and import-light: the CLI checks its arguments with these before sending
anything, and the sandbox's webhook (:mod:`kn_walk.sandbox.knative.admission`) and
controllers (:mod:`kn_walk.sandbox.knative.serving`) answer with the same messages a
cluster running Knative Serving v1.23 gives.

* Reserved environment variables (``pkg/apis/serving/k8s_validation.go``,
  ``reservedEnvVars``): Knative sets ``PORT``, ``K_SERVICE``,
  ``K_CONFIGURATION`` and ``K_REVISION`` in the serving container, so its webhook
  refuses them in a template; a sidecar (one of several containers, without
  ports) may set ``PORT``.
* Revision names (``pkg/reconciler/configuration``, ``CheckNameAvailability``):
  a template's ``metadata.name`` may name an existing Revision only if its own
  Configuration made it from an identical spec; otherwise the Configuration
  goes ``Ready=False`` with reason ``RevisionFailed``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: set by Knative in the serving container (Knative's ``reservedEnvVars``)
RESERVED_ENV_VARS = ("PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION")
#: a sidecar may set PORT (Knative's ``reservedSidecarEnvVars``)
RESERVED_SIDECAR_ENV_VARS = tuple(n for n in RESERVED_ENV_VARS if n != "PORT")
#: Knative's apis.ErrMissingField message
MISSING_FIELD = "missing field(s)"

REVISIONS_RESOURCE = "revisions.serving.knative.dev"
#: the Configuration's Ready reason when its Revision cannot be made
REVISION_FAILED = "RevisionFailed"


def reserved_env_message(name: str) -> str:
    """Knative's message for a reserved name: ``"PORT" is a reserved environment variable``."""
    return f"{json.dumps(name)} is a reserved environment variable"


def reserved_env_hint() -> str:
    """What is reserved, and why, for a hint."""
    names = ", ".join(RESERVED_ENV_VARS[:-1]) + f" and {RESERVED_ENV_VARS[-1]}"
    return f"Knative sets {names} in the container itself; use another name"


def is_reserved_env(name: str, *, sidecar: bool = False) -> bool:
    return name in (RESERVED_SIDECAR_ENV_VARS if sidecar else RESERVED_ENV_VARS)


def env_errors(containers: Any) -> list[tuple[str, str]]:
    """Knative's checks of env names in a PodSpec's ``containers``.

    Returns (message, path below the PodSpec), e.g. ``('"PORT" is a reserved
    environment variable', 'containers[0].env[0].name')``. With one container it is
    the serving container; with several, those without ports are sidecars.
    """
    if not isinstance(containers, list):
        return []
    several = len(containers) > 1
    errors: list[tuple[str, str]] = []
    for i, container in enumerate(containers):
        if not isinstance(container, Mapping):
            continue
        sidecar = several and not container.get("ports")
        env = container.get("env")
        for j, entry in enumerate(env if isinstance(env, list) else []):
            if not isinstance(entry, Mapping):
                continue
            name = entry.get("name")
            path = f"containers[{i}].env[{j}].name"
            if not name:
                errors.append((MISSING_FIELD, path))
            elif isinstance(name, str) and is_reserved_env(name, sidecar=sidecar):
                errors.append((reserved_env_message(name), path))
    return errors


def revision_exists_message(name: str) -> str:
    """The API's AlreadyExists message for a Revision, as Knative reports a name clash."""
    return f"{REVISIONS_RESOURCE} {json.dumps(name)} already exists"


def revision_creation_failed(message: str) -> str:
    """The Configuration's Ready message when its Revision cannot be made."""
    return f"Revision creation failed with message: {message}."


def revision_reusable(revision_spec: Any, template_spec: Any) -> bool:
    """Whether an existing Revision of the same Configuration can stand for a template
    that names it: only if the specs are equal (the rest of a Revision is immutable)."""
    return bool(revision_spec == template_spec)
