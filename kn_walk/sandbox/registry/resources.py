"""What a write means: metadata, generation, admission, schema checks, patches, cascade.

The HTTP layer (api.py) parses requests and calls these methods; the
controllers (serving.py) use the same methods, so every object in the store
went through the same rules, whoever wrote it.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import string
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kn_walk.goformat import go_json_kind
from kn_walk.knative_rules import names
from kn_walk.knative_rules.fielderror import go_quote
from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery import fields as F
from kn_walk.sandbox.machinery import patch as P
from kn_walk.sandbox.machinery import schema as S
from kn_walk.sandbox.machinery.decoding import APPLY_PATCH as APPLY_PATCH
from kn_walk.sandbox.machinery.decoding import APPLY_PATCH_CBOR as APPLY_PATCH_CBOR
from kn_walk.sandbox.machinery.decoding import JSON_PATCH as JSON_PATCH
from kn_walk.sandbox.machinery.decoding import MERGE_PATCH as MERGE_PATCH
from kn_walk.sandbox.machinery.decoding import STRATEGIC_PATCH as STRATEGIC_PATCH
from kn_walk.sandbox.machinery.decoding import go_int
from kn_walk.sandbox.machinery.nulls import drop_nulls
from kn_walk.sandbox.machinery.resourcetypes import Registry, ResourceType
from kn_walk.sandbox.machinery.selectors import parse_field_selector, parse_label_selector
from kn_walk.sandbox.registry.store import Conflict, Obj, Store

#: field selectors the store answers from its own columns
STORE_FIELDS = ("metadata.name", "metadata.namespace")

#: namespaces kube-apiserver refuses to delete (the NamespaceLifecycle admission plugin)
PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})

#: the garbage collector's finalizers (metav1.FinalizerOrphanDependents, FinalizerDeleteDependents)
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
_GC_FINALIZERS = (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)
#: kube-apiserver's finalizer in a Namespace's ``spec.finalizers``: its content goes first
NAMESPACE_FINALIZER = "kubernetes"
_NAMESPACES = ("", "namespaces")

#: the name rule of each kind whose name is not a DNS-1123 subdomain (kube's default)
_NAME_RULES: dict[tuple[str, str], Callable[[str], list[str]]] = {
    ("", "namespaces"): names.dns1123_label_errors,
    ("", "services"): names.dns1035_label_errors,
    ("apiregistration.k8s.io", "apiservices"): names.path_segment_name_errors,
}


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rkey(rt: ResourceType) -> str:
    return f"{rt.group}/{rt.plural}"


def name_errors(rt: ResourceType, name: str) -> list[str]:
    """Kubernetes' messages for ``name`` as the name of a ``rt`` (empty when it is fine)."""
    return _NAME_RULES.get(rt.key, names.dns1123_subdomain_errors)(name)


@dataclass
class WriteContext:
    """What admission plugins may look at: the operation and a read-only view of the store."""

    operation: str  # CREATE | UPDATE | DELETE
    user: str
    resources: Resources
    subresource: str = ""


class Admission(Protocol):
    """A mutating+validating admission plugin (the Knative webhook is one)."""

    def handles(self, rt: ResourceType) -> bool: ...

    def admit(self, rt: ResourceType, new: Obj, old: Obj | None, ctx: WriteContext) -> None:
        """Default ``new`` in place, or raise a StatusError to deny the request."""


@dataclass
class WriteOptions:
    manager: str = "unknown"
    dry_run: bool = False
    field_validation: str = "Strict"  # Strict | Warn | Ignore
    subresource: str = ""
    user: str = "sandbox-admin"
    warnings: list[str] = field(default_factory=list)
    #: what a strict decoder said about the body's text (see :class:`decoding.Decoded`):
    #: go-yaml's errors, listed first, and the paths of JSON fields given twice
    yaml_errors: list[str] = field(default_factory=list)
    duplicate_fields: list[str] = field(default_factory=list)


def _spec_part(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _comparable(obj: Obj) -> Obj:
    """The object without the fields every write changes."""
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    meta.pop("resourceVersion", None)
    for entry in meta.get("managedFields") or []:
        entry.pop("time", None)
    return out


class Resources:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.admission: list[Admission] = []
        #: called with (rt, obj) after a CRD is created/updated/deleted so discovery follows
        self.on_crd_change: list[Callable[[], None]] = []
        self._keys: dict[ResourceType, F.Schema] = {}
        #: uids of the objects whose dependents are being collected now (cycles stop there)
        self._collecting: set[str] = set()
        #: namespaces whose content is being deleted now
        self._terminating: set[str] = set()

    # ------------------------------------------------------------------ reads
    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.store.get(rkey(rt), namespace if rt.namespaced else "", name)
        if obj is None:
            raise E.not_found(rt, name)
        return self._versioned(rt, obj)

    def find(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        obj = self.store.get(rkey(rt), namespace if rt.namespaced else "", name)
        return None if obj is None else self._versioned(rt, obj)

    def _versioned(self, rt: ResourceType, obj: Obj) -> Obj:
        if obj.get("apiVersion") != rt.api_version:
            obj["apiVersion"] = rt.api_version
        return obj

    def list_objects(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        label_sel: str | None = None,
        field_sel: str | None = None,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> tuple[list[Obj], str, str, int | None]:
        """(items, resourceVersion, continue, remainingItemCount).

        The store answers the selectors from its label index, reading only the objects
        that match; each is checked against the selectors here as well.
        """
        label_reqs = parse_label_selector(label_sel)
        field_reqs = parse_field_selector(field_sel, rt.plural)
        start_after: tuple[str, str] | None = None
        rv = str(self.store.resource_version)
        if continue_token:
            start_after, rv = _continue_position(continue_token)
        columns = [r for r in field_reqs if r.field in STORE_FIELDS]
        # fields of the object's body (Events' involvedObject.uid, ...) are checked here, so
        # the store cannot count a page for them: it returns every match, paged below
        in_body = len(columns) < len(field_reqs)
        found, more = self.store.select(
            rkey(rt),
            namespace if rt.namespaced else None,
            labels=label_reqs,
            fields=[(r.field, r.negate, r.value) for r in columns],
            after=start_after,
            limit=0 if in_body else limit,
        )
        matched: list[Obj] = []
        for obj in found:
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if all(r.matches(labels) for r in label_reqs) and all(
                r.matches(obj) for r in field_reqs
            ):
                matched.append(obj)
        if in_body and limit and len(matched) > limit:
            more = len(matched) - limit
            found = matched = matched[:limit]
        elif in_body:
            more = 0
        items = [self._versioned(rt, obj) for obj in matched]
        cont, remaining = "", None
        if limit and more > 0 and found:
            last = found[-1]["metadata"]
            remaining = more
            raw = json.dumps({"rv": rv, "ns": last.get("namespace", ""), "name": last["name"]})
            cont = base64.urlsafe_b64encode(raw.encode()).decode()
        return items, rv, cont, remaining

    # ----------------------------------------------------------------- writes
    def create(self, rt: ResourceType, namespace: str, body: Obj, opts: WriteOptions) -> Obj:
        obj = self._checked_body(rt, namespace, body, opts)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            alphabet = string.ascii_lowercase + string.digits
            meta["name"] = meta["generateName"] + "".join(
                secrets.choice(alphabet) for _ in range(5)
            )
        name = meta.get("name") or ""
        if not name:
            raise E.invalid(
                rt,
                "",
                [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: name or generateName is required",
                        "field": "metadata.name",
                    }
                ],
            )
        self._check_namespace_exists(rt, obj)
        if self.find(rt, meta.get("namespace", ""), name) is not None:
            raise E.already_exists(rt, name)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(k, None)
        if rt.status_subresource and not opts.subresource:
            obj.pop("status", None)
        self._admit(rt, obj, None, opts, "CREATE")
        self._validate(rt, obj)
        if not meta.get("managedFields"):
            meta["managedFields"] = F.record_update(
                None,
                obj,
                manager=opts.manager,
                api_version=rt.api_version,
                list_keys=self._list_keys(rt),
                now=now_rfc3339(),
            )
        return self._store(rt, obj, None, opts)

    def update(
        self, rt: ResourceType, namespace: str, name: str, body: Obj, opts: WriteOptions
    ) -> Obj:
        obj = self._checked_body(rt, namespace, body, opts)
        meta = obj.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise E.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        old = self.find(rt, meta.get("namespace", ""), name)
        if old is None:
            raise E.not_found(rt, name)
        want_rv = str(meta.get("resourceVersion") or "")
        if not want_rv:
            raise E.invalid(
                rt,
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "message": "Invalid value: 0: must be specified for an update",
                        "field": "metadata.resourceVersion",
                    }
                ],
            )
        if want_rv != old["metadata"]["resourceVersion"]:
            raise E.conflict(rt, name, E.MODIFIED)
        return self._update_from(rt, old, obj, opts, managed=None)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        raw: Any,
        opts: WriteOptions,
        *,
        force: bool = False,
    ) -> tuple[Obj, bool]:
        """Apply a patch; returns (object, created). Server-side apply may create."""
        ns = namespace if rt.namespaced else ""
        old = self.find(rt, ns, name)
        if content_type in (APPLY_PATCH, APPLY_PATCH_CBOR):
            return self._apply(rt, ns, name, raw, old, opts, force)
        if old is None:
            raise E.not_found(rt, name)
        if content_type == STRATEGIC_PATCH and rt.custom:
            raise unsupported_patch(rt)
        new = patched(old, content_type, raw, rt)
        if not isinstance(new, dict):
            raise E.bad_request("the patch produced an object that is not a JSON object")
        new_meta = new.get("metadata") if isinstance(new.get("metadata"), dict) else None
        if new_meta is None:
            new["metadata"] = new_meta = {}
        if str(new_meta.get("resourceVersion") or "") not in (
            "",
            old["metadata"]["resourceVersion"],
        ):
            raise E.conflict(rt, name, E.MODIFIED)
        if new_meta.get("name", name) != name:
            raise E.bad_request(
                f"the name of the object ({new_meta.get('name')}) does not match the name on the URL ({name})"
            )
        new = self._checked_body(rt, ns, new, opts, via="patch")
        return self._update_from(rt, old, new, opts, managed=None), False

    def _apply(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        raw: Any,
        old: Obj | None,
        opts: WriteOptions,
        force: bool,
    ) -> tuple[Obj, bool]:
        if not isinstance(raw, dict):
            raise E.bad_request("error decoding YAML: the applied configuration must be an object")
        if not opts.manager:
            raise E.StatusError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
            )
        config = self._checked_body(rt, ns, raw, opts, via="apply")
        cmeta = config.setdefault("metadata", {})
        if cmeta.get("name", name) != name:
            raise E.bad_request(
                f"the name of the object ({cmeta.get('name')}) does not match the name on the URL ({name})"
            )
        cmeta["name"] = name
        try:
            merged = F.apply(
                old,
                config,
                manager=opts.manager,
                force=force,
                api_version=rt.api_version,
                list_keys=self._list_keys(rt),
                now=now_rfc3339(),
            )
        except F.ApplyConflict as exc:
            raise E.StatusError(
                409,
                "Conflict",
                str(exc),
                {
                    "causes": [
                        {
                            "reason": "FieldManagerConflict",
                            "message": f'conflict with "{m}"',
                            "field": p,
                        }
                        for m, p in exc.conflicts
                    ]
                },
            ) from exc
        except F.ApplyError as exc:
            # kube-apiserver answers these with 500; a bad request is what they are
            raise E.StatusError(
                exc.code if exc.code < 500 else 400, exc.reason or "BadRequest", exc.message
            ) from exc
        if old is None:
            merged["metadata"].pop("resourceVersion", None)
            managed = merged["metadata"].get("managedFields")
            created = self.create(rt, ns, merged, opts)
            if managed and created["metadata"].get("managedFields") != managed:
                created["metadata"]["managedFields"] = managed
            return created, True
        return self._update_from(
            rt, old, merged, opts, managed=merged["metadata"].get("managedFields")
        ), False

    def _update_from(
        self, rt: ResourceType, old: Obj, new: Obj, opts: WriteOptions, *, managed: list[Any] | None
    ) -> Obj:
        meta = new.setdefault("metadata", {})
        ometa = old["metadata"]
        for k in (
            "uid",
            "creationTimestamp",
            "generation",
            "namespace",
            "name",
            "deletionTimestamp",
        ):
            if k in ometa:
                meta[k] = ometa[k]
            else:
                meta.pop(k, None)
        meta["resourceVersion"] = ometa["resourceVersion"]
        if opts.subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        else:
            if rt.status_subresource:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            self._admit(rt, new, old, opts, "UPDATE")
        self._validate(rt, new)
        if _spec_part(new) != _spec_part(old):
            meta["generation"] = int(ometa.get("generation") or 1) + 1
        if managed is None:
            meta["managedFields"] = F.record_update(
                old,
                new,
                manager=opts.manager,
                api_version=rt.api_version,
                list_keys=self._list_keys(rt),
                now=now_rfc3339(),
                subresource=opts.subresource,
            )
        else:
            meta["managedFields"] = managed
        if _comparable(new) == _comparable(old):
            return old  # a no-op write changes nothing, not even the resourceVersion
        if not meta.get("deletionTimestamp"):
            return self._store(rt, new, old, opts)
        added = [
            f for f in meta.get("finalizers") or [] if f not in (ometa.get("finalizers") or [])
        ]
        if added:
            shown = "[]string{" + ", ".join(json.dumps(f) for f in added) + "}"
            raise E.invalid(
                rt,
                meta["name"],
                [
                    {
                        "reason": "FieldValueForbidden",
                        "message": "Forbidden: no new finalizers can be added if the object "
                        f"is being deleted, found new finalizers {shown}",
                        "field": "metadata.finalizers",
                    }
                ],
            )
        if opts.dry_run or _held(rt, new):
            return self._store(rt, new, old, opts)
        # the last finalizer is gone: instead of storing the update, kube-apiserver deletes
        # the object (watchers see it go as it last was)
        with self.store.transaction():
            return self._remove(rt, old)

    def _store(self, rt: ResourceType, obj: Obj, old: Obj | None, opts: WriteOptions) -> Obj:
        if opts.dry_run:
            return obj
        try:
            stored = self.store.put(
                rkey(rt),
                obj,
                expect_rv=old["metadata"]["resourceVersion"] if old else None,
                create=old is None,
            )
        except Conflict as exc:
            raise E.conflict(rt, obj["metadata"]["name"], E.MODIFIED) from exc
        except KeyError as exc:
            raise E.already_exists(rt, obj["metadata"]["name"]) from exc
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            for cb in self.on_crd_change:
                cb()
        return stored

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        propagation: str | None = None,
        precondition_rv: str | None = None,
        precondition_uid: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        ns = namespace if rt.namespaced else ""
        obj = self.find(rt, ns, name)
        if obj is None:
            raise E.not_found(rt, name)
        if rt.key == ("", "namespaces") and name in PROTECTED_NAMESPACES:
            raise E.StatusError(
                403,
                "Forbidden",
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                {"name": name, "kind": "namespaces"},
            )
        meta = obj["metadata"]
        if precondition_uid and precondition_uid != meta.get("uid"):
            raise E.conflict(
                rt,
                name,
                f"Precondition failed: UID in precondition: {precondition_uid}, UID in object meta: {meta.get('uid')}",
            )
        if precondition_rv and precondition_rv != meta.get("resourceVersion"):
            raise E.conflict(
                rt,
                name,
                f"Precondition failed: ResourceVersion in precondition: {precondition_rv}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
            )
        if dry_run:
            return obj
        with self.store.transaction():
            return self._delete_object(rt, obj, propagation)

    # ------------------------------------------------ deletion and garbage collection
    # kube-apiserver marks an object that something holds (a finalizer, or the garbage
    # collector's own for Foreground and Orphan propagation; a Namespace's content) with a
    # deletionTimestamp; the garbage collector and the namespace controller then do their
    # part, and the object goes when its last finalizer does. The sandbox does their part
    # at once, in the same transaction, in the order they would: watchers see the owner
    # marked, then its dependents go, then the owner.

    def _delete_object(self, rt: ResourceType, obj: Obj, propagation: str | None) -> Obj:
        """Delete ``obj`` now, or mark it and collect what it waits for; its last state.

        ``propagation`` None (the delete named no policy) keeps the garbage collector's
        finalizers an earlier delete put on it; a policy replaces them (kube-apiserver's
        deletionFinalizersForGarbageCollection). With neither, dependents go in the
        background, the default of every kind the sandbox serves."""
        meta = obj["metadata"]
        had = list(meta.get("finalizers") or [])
        kept = had
        if propagation is not None:
            kept = [f for f in had if f not in _GC_FINALIZERS]
            if propagation == "Orphan":
                kept.append(ORPHAN_FINALIZER)
            elif propagation == "Foreground":
                kept.append(FOREGROUND_FINALIZER)
        is_namespace = rt.key == _NAMESPACES
        if not kept and not is_namespace:
            return self._remove(rt, obj)
        changed = set(kept) != set(had)
        if changed:
            meta["finalizers"] = kept
        if not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = now_rfc3339()
            meta["deletionGracePeriodSeconds"] = 0
            changed = True
        if is_namespace and (obj.get("status") or {}).get("phase") != "Terminating":
            obj["status"] = {**(obj.get("status") or {}), "phase": "Terminating"}
            changed = True
        if changed:
            obj = self.store.put(rkey(rt), obj)
        return self._collect(rt, obj)

    def _collect(self, rt: ResourceType, obj: Obj) -> Obj:
        """The garbage collector's and namespace controller's work for an object being
        deleted: orphan or delete its dependents, empty the namespace; its last state."""
        meta = obj["metadata"]
        uid = str(meta.get("uid") or "")
        if uid in self._collecting:  # an ownership cycle: this object is being collected
            return obj
        self._collecting.add(uid)
        try:
            finalizers = meta.get("finalizers") or []
            if ORPHAN_FINALIZER in finalizers:
                self._orphan_dependents(uid)
                obj = self._without_finalizer(rt, obj, ORPHAN_FINALIZER)
            elif FOREGROUND_FINALIZER in finalizers:
                # every dependent goes; the owner waits for those that block its deletion
                for t, dep in sorted(self.dependents(uid), key=lambda d: not _blocks(d[1], uid)):
                    self._collect_dependent(t, dep)
        finally:
            self._collecting.discard(uid)
        current = self._alive(rt, obj)
        if current is None:
            return obj
        if FOREGROUND_FINALIZER in (current["metadata"].get("finalizers") or []):
            current = self._release_if_unblocked(rt, current)
        if rt.key == _NAMESPACES and self._alive(rt, current) is not None:
            current = self._finalize_namespace(rt, current)
        return current

    def _alive(self, rt: ResourceType, obj: Obj) -> Obj | None:
        """The stored state of ``obj``, if that very object (same uid) still exists."""
        meta = obj["metadata"]
        current = self.store.get(rkey(rt), meta.get("namespace", ""), meta["name"])
        if current is None or current["metadata"].get("uid") != meta.get("uid"):
            return None
        return current

    def _remove(self, rt: ResourceType, obj: Obj) -> Obj:
        """Remove ``obj`` from the store; collect its dependents, and tell what waited for it."""
        meta = obj["metadata"]
        deleted = self.store.delete(rkey(rt), meta.get("namespace", ""), meta["name"])
        uid = str(meta.get("uid") or "")
        if uid:
            for t, dep in list(self.dependents(uid)):
                self._collect_dependent(t, dep)
        self._released(deleted)
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            for cb in self.on_crd_change:
                cb()
        return deleted

    def _without_finalizer(self, rt: ResourceType, obj: Obj, finalizer: str) -> Obj:
        """``obj`` without ``finalizer``, removed if that was the last thing holding it."""
        current = self._alive(rt, obj)
        if current is None:
            return obj
        meta = current["metadata"]
        had = meta.get("finalizers") or []
        left = [f for f in had if f != finalizer]
        if left == had:
            return current
        if (
            not left
            and meta.get("deletionTimestamp")
            and not _held(rt, {**current, "metadata": {}})
        ):
            # kube-apiserver deletes instead of storing an update that empties the
            # finalizers: watchers see the object go, as it last was
            return self._remove(rt, current)
        if left:
            meta["finalizers"] = left
        else:
            meta.pop("finalizers", None)
        return self.store.put(rkey(rt), current)

    def _owner(self, namespace: str, ref: Obj) -> tuple[ResourceType, Obj] | None:
        """The object an ownerReference names, if it exists (same uid)."""
        t = self.registry.by_kind(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
        if t is None:
            return None
        owner = self.store.get(rkey(t), namespace if t.namespaced else "", str(ref.get("name")))
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return None
        return t, owner

    def _collect_dependent(self, t: ResourceType, dep: Obj) -> None:
        """The garbage collector's verdict on a dependent one of whose owners is gone or
        going: kept while another owner stays (the references to the others dropped),
        else deleted (in the foreground when an owner waits for it and it has dependents
        of its own; else as its own finalizers say)."""
        current = self._alive(t, dep)
        if current is None:
            return
        meta = current["metadata"]
        refs = meta.get("ownerReferences") or []
        solid, dropped, waiting = [], [], False
        for ref in refs:
            found = self._owner(meta.get("namespace", ""), ref)
            if found is None:
                dropped.append(ref)
            elif _deleting_dependents(found[1]):
                dropped.append(ref)
                waiting = True
            else:
                solid.append(ref)
        if solid:
            if dropped:
                meta["ownerReferences"] = solid
                self.store.put(rkey(t), current)
            return
        # an owner deleting in the foreground waits for this one's dependents too; else
        # its own finalizers say how (no policy: they stay as they are)
        waits = waiting and self.store.owned_by(str(meta.get("uid") or ""))
        self._delete_object(t, current, "Foreground" if waits else None)

    def _orphan_dependents(self, uid: str) -> None:
        for t, obj in list(self.dependents(uid)):
            meta = obj["metadata"]
            meta["ownerReferences"] = [r for r in meta["ownerReferences"] if r.get("uid") != uid]
            if not meta["ownerReferences"]:
                del meta["ownerReferences"]
            self.store.put(rkey(t), obj)

    def _release_if_unblocked(self, rt: ResourceType, owner: Obj) -> Obj:
        """Drop an owner's foregroundDeletion finalizer once no dependent blocks it."""
        uid = str(owner["metadata"].get("uid") or "")
        if uid in self._collecting:
            return owner  # its collection is under way; it looks again when done
        if any(_blocks(dep, uid) for _, dep in self.dependents(uid)):
            return owner
        return self._without_finalizer(rt, owner, FOREGROUND_FINALIZER)

    def _released(self, gone: Obj) -> None:
        """``gone`` was removed: an owner deleting in the foreground, or its terminating
        namespace, may have been waiting for it."""
        meta = gone["metadata"]
        namespace = str(meta.get("namespace") or "")
        for ref in meta.get("ownerReferences") or []:
            if not ref.get("blockOwnerDeletion"):
                continue
            found = self._owner(namespace, ref)
            if found is not None and _deleting_dependents(found[1]):
                self._release_if_unblocked(*found)
        if namespace and namespace not in self._terminating:
            ns_type = self.registry.get("", "v1", "namespaces")
            assert ns_type is not None
            ns = self.store.get(rkey(ns_type), "", namespace)
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self._finalize_namespace(ns_type, ns)

    def _finalize_namespace(self, rt: ResourceType, ns: Obj) -> Obj:
        """The namespace controller: delete the namespace's content, report what remains in
        its conditions, and once nothing does, drop the ``kubernetes`` finalizer and
        remove it."""
        name = ns["metadata"]["name"]
        if name in self._terminating:
            return ns
        self._terminating.add(name)
        try:
            types = [t for t in self._storage_types() if t.namespaced]
            for t in types:
                for obj in self.store.list_objects(rkey(t), name):
                    current = self._alive(t, obj)
                    if current is not None:
                        self._delete_object(t, current, "Background")
            remaining: dict[str, int] = {}
            held_by: dict[str, int] = {}
            for t in types:
                left = self.store.list_objects(rkey(t), name)
                if left:
                    remaining[f"{t.plural}.{t.group}"] = len(left)
                for obj in left:
                    for f in obj["metadata"].get("finalizers") or []:
                        held_by[f] = held_by.get(f, 0) + 1
        finally:
            self._terminating.discard(name)
        current = self._alive(rt, ns)
        if current is None:
            return ns
        status = current.setdefault("status", {})
        if _namespace_conditions(status, remaining, held_by):
            current = self.store.put(rkey(rt), current)
        if remaining:
            return current
        spec = current.get("spec") or {}
        if NAMESPACE_FINALIZER in (spec.get("finalizers") or []):
            left = [f for f in spec["finalizers"] if f != NAMESPACE_FINALIZER]
            if left:
                spec["finalizers"] = left
            else:
                del spec["finalizers"]
            current = self.store.put(rkey(rt), current)
        if _held(rt, current):
            return current
        return self._remove(rt, current)

    def _storage_types(self) -> list[ResourceType]:
        """One type per (group, plural): objects are stored version-independently."""
        seen: dict[tuple[str, str], ResourceType] = {}
        for t in self.registry.all():
            seen.setdefault(t.key, t)
        return list(seen.values())

    def dependents(self, uid: str) -> Iterable[tuple[ResourceType, Obj]]:
        """The objects with an ownerReference to ``uid`` (the store keeps an index of them)."""
        types = {rkey(t): t for t in self._storage_types()}
        for key, obj in self.store.owned_by(uid):
            t = types.get(key)
            refs = (obj.get("metadata") or {}).get("ownerReferences") or []
            if t is not None and any(r.get("uid") == uid for r in refs):
                yield t, obj

    # ---------------------------------------------------------------- helpers
    def _checked_body(
        self, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions, *, via: str = "body"
    ) -> Obj:
        if not isinstance(body, dict):
            raise E.bad_request(
                f"Object 'Kind' is missing in '{json.dumps(body)[:200]}'"
                if body is not None
                else "the body of the request was empty"
            )
        obj = copy.deepcopy(body)
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if api_version is not None and api_version != rt.api_version:
            raise E.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})"
            )
        if kind is not None and kind != rt.kind:
            raise E.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise E.bad_request("metadata must be an object")
        drop_nulls(S.schema_for(rt), obj)  # typed clients send null for what they leave unset
        wrong = _meta_type_error(meta) or S.go_int_range_error(rt, obj)
        if wrong:
            prefix = (
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                if via == "body"
                else ""
            )
            raise E.bad_request(prefix + wrong)
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise E.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace or body_ns or "default"
        else:
            meta.pop("namespace", None)
        # what the body's decoding noted is reported once (an apply that creates comes
        # through here twice)
        strict = opts.yaml_errors
        duplicates = opts.duplicate_fields
        opts.yaml_errors, opts.duplicate_fields = [], []
        unknown: list[str] = []
        sch = S.schema_for(rt)
        if sch is not None and opts.subresource != "status":
            unknown = S.unknown_fields(sch, obj)
            if unknown and via == "apply":
                # server-side apply cannot type the configuration at all
                raise E.bad_request(
                    f"failed to create typed patch object ({meta.get('namespace', '')}/"
                    f"{meta.get('name', '')}; {rt.group_version}, Kind={rt.kind}): "
                    + "\n".join(f".{u}: field not declared in schema" for u in unknown)
                )
            if unknown:
                # Go's decoder drops what a built-in type does not declare, as pruning
                # drops it from a custom resource: stored, it would be a field no client
                # of a real cluster ever sees
                pruned = S.prune(sch, obj)
                if isinstance(pruned, dict):
                    obj = pruned
        errors = [
            *strict,
            *(f'unknown field "{u}"' for u in unknown),
            *(f'duplicate field "{d}"' for d in duplicates),
        ]
        if errors and opts.field_validation == "Strict":
            message = "strict decoding error: " + ", ".join(errors)
            if via == "body":
                message = (
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    + message
                )
            raise E.bad_request(message)
        if opts.field_validation == "Warn":
            opts.warnings.extend(errors)
        return obj

    def _check_namespace_exists(self, rt: ResourceType, obj: Obj) -> None:
        if not rt.namespaced:
            return
        ns = obj["metadata"]["namespace"]
        ns_type = self.registry.get("", "v1", "namespaces")
        assert ns_type is not None
        found = self.store.get(rkey(ns_type), "", ns)
        if found is None:
            raise E.not_found(ns_type, ns)
        if (found.get("status") or {}).get("phase") == "Terminating":
            # the NamespaceLifecycle admission plugin
            name = obj["metadata"].get("name") or obj["metadata"].get("generateName") or ""
            details: dict[str, Any] = {"name": name, "kind": rt.plural}
            if rt.group:
                details["group"] = rt.group
            details["causes"] = [
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {ns} is being terminated",
                    "field": "metadata.namespace",
                }
            ]
            raise E.StatusError(
                403,
                "Forbidden",
                f'{E.resource_name(rt)} "{name}" is forbidden: unable to create new content '
                f"in namespace {ns} because it is being terminated",
                details,
            )

    def _admit(
        self, rt: ResourceType, obj: Obj, old: Obj | None, opts: WriteOptions, op: str
    ) -> None:
        ctx = WriteContext(op, opts.user, self, opts.subresource)
        plugins = [p for p in self.admission if p.handles(rt)]
        if plugins:
            # A webhook decodes the object into its typed structs before it defaults or
            # validates anything: a field of the wrong type (``percent: "100"``, ``100.5``)
            # never reaches its rules. Say which field is wrong, as the schema does,
            # rather than what the rules make of it ("Traffic targets sum to 0").
            # (A null is not one: the decoder drops it, as apiextensions prunes the nulls
            # of fields that are not nullable.)
            wrong = [c for c in self._type_errors(rt, obj) if not c["message"].endswith('"null"')]
            if wrong:
                raise E.invalid(rt, str(obj["metadata"].get("name") or ""), wrong)
        for plugin in plugins:
            try:
                plugin.admit(rt, obj, old, ctx)
            except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
                # what the schema cannot see (a map of the wrong shape for the rules)
                raise E.bad_request(
                    f"admission refused the object: it cannot be decoded ({exc})"
                ) from exc

    def _type_errors(self, rt: ResourceType, obj: Obj) -> list[dict[str, str]]:
        """The schema's causes for fields of ``obj`` that are of the wrong type."""
        causes = S.validate(S.schema_for(rt), obj)
        return [c.to_dict() for c in causes if c.reason == S.TYPE_INVALID]

    def _validate(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        name = meta.get("name", "")
        causes: list[dict[str, str]] = []
        for msg in name_errors(rt, name):
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "message": f"Invalid value: {go_quote(name)}: {msg}",
                    "field": "metadata.name",
                }
            )
        for key in (meta.get("labels") or {}, meta.get("annotations") or {}):
            if not isinstance(key, dict):
                causes.append(
                    {
                        "reason": "FieldValueTypeInvalid",
                        "message": "Invalid value: must be a map of strings",
                        "field": "metadata",
                    }
                )
        labels = meta.get("labels") or {}
        if isinstance(labels, dict):
            # ValidateLabels: each key a qualified name, each value a label value
            for key, value in labels.items():
                problems = [(key, m) for m in names.qualified_name_errors(str(key))]
                if isinstance(value, str):
                    problems += [(value, m) for m in names.label_value_errors(value)]
                else:
                    problems.append((value, names.LABEL_VALUE_MSG))
                for shown, msg in problems:
                    causes.append(
                        {
                            "reason": "FieldValueInvalid",
                            "message": f"Invalid value: {go_quote(shown)}: {msg}",
                            "field": "metadata.labels",
                        }
                    )
        sch = S.schema_for(rt)
        if sch is not None:
            for c in S.validate(sch, obj):
                causes.append({"reason": c.reason, "message": c.message, "field": c.field})
        if causes:
            raise E.invalid(rt, name, causes)

    def _list_keys(self, rt: ResourceType) -> F.Schema | None:
        cached = self._keys.get(rt)
        if cached is None:
            cached = (
                F.list_keys_from_schema(rt.schema) if rt.custom else F.builtin_list_keys(rt.kind)
            )
            if cached is not None:
                self._keys[rt] = cached
        return cached


def _blocks(dependent: Obj, owner_uid: str) -> bool:
    """Whether ``dependent``'s reference to its owner has ``blockOwnerDeletion``."""
    refs = (dependent.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion") is True for r in refs)


def _deleting_dependents(obj: Obj) -> bool:
    """Being deleted in the foreground: waiting for its dependents to go first."""
    meta = obj.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and FOREGROUND_FINALIZER in (
        meta.get("finalizers") or []
    )


def _held(rt: ResourceType, obj: Obj) -> bool:
    """Whether something still holds ``obj`` from going: a finalizer (for a Namespace,
    one in ``spec.finalizers`` too)."""
    if (obj.get("metadata") or {}).get("finalizers"):
        return True
    return rt.key == _NAMESPACES and bool((obj.get("spec") or {}).get("finalizers"))


#: the namespace controller's conditions, and their reason and message when all is well
_NAMESPACE_OK = (
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
)


def _namespace_conditions(status: Obj, remaining: dict[str, int], held_by: dict[str, int]) -> bool:
    """Set a terminating namespace's conditions as the namespace controller does; whether
    they changed. ``remaining``: objects left per resource; ``held_by``: per finalizer."""
    bad: dict[str, tuple[str, str]] = {}
    if remaining:
        parts = sorted(f"{r} has {n} resource instances" for r, n in remaining.items())
        bad["NamespaceContentRemaining"] = (
            "SomeResourcesRemain",
            "Some resources are remaining: " + ", ".join(parts),
        )
    if held_by:
        parts = sorted(f"{f} in {n} resource instances" for f, n in held_by.items())
        bad["NamespaceFinalizersRemaining"] = (
            "SomeFinalizersRemain",
            "Some content in the namespace has finalizers remaining: " + ", ".join(parts),
        )
    conditions = status.setdefault("conditions", [])
    changed = False
    now = now_rfc3339()
    for kind, ok_reason, ok_message in _NAMESPACE_OK:
        value, (reason, message) = (
            ("True", bad[kind]) if kind in bad else ("False", (ok_reason, ok_message))
        )
        old = next((c for c in conditions if isinstance(c, dict) and c.get("type") == kind), None)
        if old is None:
            conditions.append(
                {
                    "type": kind,
                    "status": value,
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                }
            )
            changed = True
        elif (old.get("status"), old.get("reason"), old.get("message")) != (value, reason, message):
            if old.get("status") != value:
                old["lastTransitionTime"] = now
            old.update(status=value, reason=reason, message=message)
            changed = True
    return changed


#: ObjectMeta's fields and their Go types (what kube-apiserver decodes a body into)
_META_TYPES: dict[str, str] = {
    **dict.fromkeys(
        ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion"), "string"
    ),
    **dict.fromkeys(("creationTimestamp", "deletionTimestamp"), "v1.Time"),
    **dict.fromkeys(("generation", "deletionGracePeriodSeconds"), "int64"),
    **dict.fromkeys(("labels", "annotations"), "map[string]string"),
    "finalizers": "[]string",
    "ownerReferences": "[]v1.OwnerReference",
    "managedFields": "[]v1.ManagedFieldsEntry",
}


#: what a continue token holds
TOKEN_KEYS = ("rv", "ns", "name")


def _continue_position(token: str) -> tuple[tuple[str, str], str]:
    """((namespace, name) to list after, resourceVersion) from a continue token we wrote;
    anything else (a token of another shape, a resourceVersion no store holds) is 400."""
    bad = E.bad_request("continue key is not valid: incorrect encoded start resourceVersion")
    try:
        tok = json.loads(base64.urlsafe_b64decode(token.encode("utf-8", "surrogatepass")))
    except (ValueError, TypeError, RecursionError):
        raise bad from None
    if not isinstance(tok, dict) or not all(isinstance(tok.get(k), str) for k in TOKEN_KEYS):
        raise bad
    try:
        rv = go_int(tok["rv"], unsigned=True)
    except ValueError:
        raise bad from None
    if not 0 < rv < 2**63:
        raise bad
    return (tok["ns"], tok["name"]), str(rv)


def _meta_type_error(meta: Obj) -> str:
    """Go's decoding error for an ObjectMeta field of the wrong JSON type, or ""."""

    def fits(value: Any, go: str) -> bool:
        if value is None:
            return True  # null decodes to the zero value
        if go in ("string", "v1.Time"):
            return isinstance(value, str)
        if go == "int64":
            return (
                isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
            )
        if go == "map[string]string":
            return isinstance(value, dict) and all(
                isinstance(v, str) or v is None for v in value.values()
            )
        if go == "[]string":
            return isinstance(value, list) and all(isinstance(v, str) for v in value)
        if go.startswith("[]"):
            return isinstance(value, list) and all(isinstance(v, dict) for v in value)
        return isinstance(value, dict)  # an element of a []v1.X list

    for key, go in _META_TYPES.items():
        value = meta.get(key)
        if fits(value, go):
            continue
        # the container is right, an element is not
        items = (
            list(value.values())
            if go.startswith("map") and isinstance(value, dict)
            else value
            if go.startswith("[]") and isinstance(value, list)
            else None
        )
        if items is not None:
            element = "string" if go.endswith("string") else go[2:]
            bad = next(v for v in items if not fits(v, element) or v is None)
            return (
                f"json: cannot unmarshal {go_json_kind(bad)} into Go struct field "
                f"ObjectMeta.metadata.{key} of type {element}"
            )
        return (
            f"json: cannot unmarshal {go_json_kind(value)} into Go struct field "
            f"ObjectMeta.metadata.{key} of type {go}"
        )
    return ""


def unsupported_patch(rt: ResourceType) -> E.StatusError:
    if rt.custom:
        return E.unsupported_media_type([JSON_PATCH, MERGE_PATCH, APPLY_PATCH])
    return E.unsupported_media_type([JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH])


def patched(old: Obj, content_type: str, raw: Any, rt: ResourceType, kind: str = "") -> Any:
    """``old`` with a merge, JSON or strategic merge patch applied (strategic by the list
    rules of ``kind``, else of ``rt.kind``); bad patches become kube-apiserver's errors."""
    try:
        if content_type == JSON_PATCH:
            if not isinstance(raw, list):
                raise E.bad_request(
                    "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
                )
            return P.json_patch(old, raw)
        if content_type not in (MERGE_PATCH, STRATEGIC_PATCH):
            raise unsupported_patch(rt)
        if not isinstance(raw, dict):
            raise E.bad_request(
                "json: cannot unmarshal into Go value of type map[string]interface {}"
            )
        if content_type == MERGE_PATCH:
            return P.merge_patch(old, raw)
        return P.strategic_merge_patch(old, raw, kind or rt.kind)
    except P.PatchError as exc:
        raise _from_helper_status(exc.to_status()) from exc


def _from_helper_status(status: dict[str, Any]) -> E.StatusError:
    """A Status body built by patch.py/fields.py, as a StatusError."""
    return E.StatusError(
        int(status.get("code") or 500),
        str(status.get("reason") or ""),
        str(status.get("message") or ""),
        status.get("details"),
    )
