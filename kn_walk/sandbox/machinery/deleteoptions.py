"""``DeleteOptions`` as kube-apiserver reads them for DELETE and deletecollection.

kube-apiserver takes the options from the request **body** when it has one (a
``meta.k8s.io/v1`` ``DeleteOptions``, which is what kubectl and client
libraries send) and from the **query** only when the body is empty; it never
mixes the two (``k8s.io/apiserver/pkg/endpoints/handlers/delete.go``). Then
``ValidateDeleteOptions`` checks them. Reading only one of the two places is
how a ``--dry-run=server`` delete ends up deleting, so every option is read
here, once, for both verbs.

Pure: no I/O, no aiohttp.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kn_walk.goformat import go_json_kind
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.decoding import go_int, query_flag

PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")
_FIELDS = {
    "kind",
    "apiVersion",
    "dryRun",
    "gracePeriodSeconds",
    "orphanDependents",
    "preconditions",
    "propagationPolicy",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
}
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class DeleteOptions:
    dry_run: bool = False
    # None: none given (the object's garbage-collector finalizers, else Background)
    propagation: str | None = None
    orphan_dependents: bool | None = None
    grace_period_seconds: int | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None

    @property
    def policy(self) -> str | None:
        """The propagation policy the request names, with the deprecated
        ``orphanDependents`` (false: Background); None when it names none, which keeps
        the garbage collector's finalizers an earlier delete put on the object."""
        if self.propagation:
            return self.propagation
        if self.orphan_dependents is not None:
            return "Orphan" if self.orphan_dependents else "Background"
        return None


def parse(body: Any, query: Mapping[str, str], dry_run_values: Sequence[str]) -> DeleteOptions:
    """The options of one DELETE: from ``body`` when it is not empty, else from the query.

    ``body`` is the decoded request body (``None`` when empty); ``query`` is
    the single-valued query and ``dry_run_values`` every ``dryRun`` value in it.
    Raises ``StatusError`` (400 for what cannot be decoded, 422 for what
    ``ValidateDeleteOptions`` refuses).
    """
    opts = _from_body(body) if body is not None else _from_query(query, dry_run_values)
    _validate(opts, body if body is not None else None, dry_run_values)
    return opts


def _from_body(body: Any) -> DeleteOptions:
    if not isinstance(body, dict):
        raise E.bad_request("decoded object cannot be converted to DeleteOptions")
    kind = body.get("kind")
    if kind not in (None, "", "DeleteOptions"):
        raise E.bad_request(
            f'no kind "{kind}" is registered for version "meta.k8s.io/v1" in scheme '
            '"k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme/scheme.go:28"'
        )
    dry = body.get("dryRun")
    if dry is not None and not (isinstance(dry, list) and all(isinstance(d, str) for d in dry)):
        raise _decode_error("dryRun", "[]string", dry)
    prop = body.get("propagationPolicy")
    if prop is not None and not isinstance(prop, str):
        raise _decode_error("propagationPolicy", "string", prop)
    orphan = body.get("orphanDependents")
    if orphan is not None and not isinstance(orphan, bool):
        raise _decode_error("orphanDependents", "bool", orphan)
    grace = body.get("gracePeriodSeconds")
    if grace is not None and (
        isinstance(grace, bool) or not isinstance(grace, int) or not _INT64[0] <= grace <= _INT64[1]
    ):
        raise _decode_error("gracePeriodSeconds", "int64", grace)
    pre = body.get("preconditions")
    uid = rv = None
    if pre is not None:
        if not isinstance(pre, dict):
            raise _decode_error("preconditions", "v1.Preconditions", pre)
        uid, rv = pre.get("uid"), pre.get("resourceVersion")
        for name, value in (("uid", uid), ("resourceVersion", rv)):
            if value is not None and not isinstance(value, str):
                raise _decode_error(f"preconditions.{name}", "string", value)
    return DeleteOptions(
        dry_run=dry is not None and "All" in dry,
        propagation=prop or None,
        orphan_dependents=orphan,
        grace_period_seconds=grace,
        precondition_uid=uid or None,
        precondition_rv=rv or None,
    )


def _from_query(query: Mapping[str, str], dry_run_values: Sequence[str]) -> DeleteOptions:
    grace: int | None = None
    if "gracePeriodSeconds" in query:
        try:
            grace = go_int(query["gracePeriodSeconds"])
        except ValueError as exc:
            raise E.bad_request(str(exc)) from exc
    return DeleteOptions(
        dry_run="All" in dry_run_values,
        propagation=query.get("propagationPolicy") or None,
        orphan_dependents=query_flag(query, "orphanDependents"),
        grace_period_seconds=grace,
    )


def _validate(opts: DeleteOptions, body: Any, dry_run_values: Sequence[str]) -> None:
    causes: list[tuple[str, str, str]] = []  # (field, reason, message)
    if opts.orphan_dependents is not None and opts.propagation is not None:
        causes.append(
            (
                "propagationPolicy",
                "FieldValueInvalid",
                f'Invalid value: "{opts.propagation}": '
                "orphanDependents and deletionPropagation cannot be both set",
            )
        )
    if opts.propagation is not None and opts.propagation not in PROPAGATION_POLICIES:
        causes.append(
            (
                "propagationPolicy",
                "FieldValueNotSupported",
                f'Unsupported value: "{opts.propagation}": supported values: '
                '"Foreground", "Background", "Orphan", "nil"',
            )
        )
    dry = body.get("dryRun") if isinstance(body, dict) else list(dry_run_values)
    if dry and any(d != "All" for d in dry):
        shown = "[]string{" + ", ".join(json.dumps(d) for d in dry) + "}"
        causes.append(
            (
                "dryRun",
                "FieldValueNotSupported",
                f'Unsupported value: {shown}: supported values: "All"',
            )
        )
    if causes:
        raise E.options_invalid("meta.k8s.io/DeleteOptions", "", causes)


def _decode_error(field: str, go_type: str, value: Any) -> E.StatusError:
    return E.bad_request(
        f"json: cannot unmarshal {go_json_kind(value)} into Go struct field "
        f"DeleteOptions.{field} of type {go_type}"
    )
