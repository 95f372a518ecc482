"""The OpenAPI definitions of the built-in kinds the sandbox serves.

Hand-written ``io.k8s.…`` definitions (``$ref`` between them, Kubernetes'
descriptions and list-map markers) for the kinds people write: metadata, core,
Pods, apps, apiextensions. They model the fields the walkthrough and release
manifests use; subtrees not modelled carry ``x-kubernetes-preserve-unknown-fields``
so nothing valid is rejected. :data:`DEFINITIONS` is what
:mod:`kn_walk.sandbox.openapi` publishes and what :func:`kn_walk.sandbox.schema.schema_for`
validates built-in objects against.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "API_VERSION_DESCRIPTION",
    "DEFINITIONS",
    "KIND_DESCRIPTION",
    "LIST_METADATA_DESCRIPTION",
    "OBJECT_METADATA_DESCRIPTION",
    "REF_PREFIX",
    "builtin_definition_name",
]

REF_PREFIX = "#/components/schemas/"

# ---------------------------------------------------------- built-in schemas


def _ref(name: str, description: str = "", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"allOf": [{"$ref": REF_PREFIX + name}]}
    if description:
        out["description"] = description
    out.update(extra)
    return out


def _s(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _i32(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "format": "int32", "description": description, **extra}


def _i64(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "format": "int64", "description": description, **extra}


def _b(description: str) -> dict[str, Any]:
    return {"type": "boolean", "description": description}


def _strings(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "array", "description": description, "items": {"type": "string"}, **extra}


def _str_map(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "additionalProperties": {"type": "string"},
        **extra,
    }


def _list_of(name: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "array", "description": description, "items": _ref(name), **extra}


def _keyed(name: str, description: str, key: str, strategy: str = "merge") -> dict[str, Any]:
    return _list_of(
        name,
        description,
        **{
            "x-kubernetes-patch-merge-key": key,
            "x-kubernetes-patch-strategy": strategy,
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": [key],
        },
    )


def _list_map(*keys: str, strategy: str = "merge") -> dict[str, Any]:
    """Markers of a list of objects keyed (and patch-merged) by ``keys[0]`` and the rest.

    :func:`_keyed` writes the same markers in another key order, which ``/openapi/v2``
    (served unsorted) shows: keep the two apart.
    """
    return {
        "x-kubernetes-list-map-keys": list(keys),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-patch-merge-key": keys[0],
        "x-kubernetes-patch-strategy": strategy,
    }


def _opaque(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "x-kubernetes-preserve-unknown-fields": True,
    }


def _opaque_list(description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "description": description,
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    }


def _obj(
    description: str,
    properties: dict[str, Any],
    required: list[str] | None = None,
    /,
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "type": "object", "properties": properties}
    if required:
        out["required"] = required
    out.update(extra)
    return out


_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_CORE = "io.k8s.api.core.v1."
_APPS = "io.k8s.api.apps.v1."
_APIEXT = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
_INTSTR = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_RAW = "io.k8s.apimachinery.pkg.runtime.RawExtension"

API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. Cannot be updated. In "
    "CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
OBJECT_METADATA_DESCRIPTION = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
LIST_METADATA_DESCRIPTION = (
    "Standard list metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)


def _gvk(group: str, version: str, kind: str) -> list[dict[str, str]]:
    return [{"group": group, "kind": kind, "version": version}]


def _kind_def(
    description: str,
    group: str,
    version: str,
    kind: str,
    extra_props: dict[str, Any],
    required: list[str] | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "apiVersion": _s(API_VERSION_DESCRIPTION),
        "kind": _s(KIND_DESCRIPTION),
        "metadata": _ref(_META + "ObjectMeta", OBJECT_METADATA_DESCRIPTION),
    }
    props.update(extra_props)
    return _obj(
        description,
        props,
        required,
        **{"x-kubernetes-group-version-kind": _gvk(group, version, kind)},
    )


def _list_def(group: str, version: str, kind: str, item_name: str) -> dict[str, Any]:
    return _obj(
        f"{kind}List is a list of {kind} objects.",
        {
            "apiVersion": _s(API_VERSION_DESCRIPTION),
            "items": _list_of(item_name, f"Items is the list of {kind} objects."),
            "kind": _s(KIND_DESCRIPTION),
            "metadata": _ref(_META + "ListMeta", LIST_METADATA_DESCRIPTION),
        },
        ["items"],
        **{"x-kubernetes-group-version-kind": _gvk(group, version, kind + "List")},
    )


def _meta_definitions() -> dict[str, dict[str, Any]]:
    time_desc = (
        "Time is a wrapper around time.Time which supports correct marshaling to YAML and "
        "JSON, in RFC 3339 form."
    )
    return {
        _META + "Time": {"description": time_desc, "type": "string", "format": "date-time"},
        _META + "FieldsV1": {
            "description": "FieldsV1 stores a set of fields in a data structure like a Trie, "
            "in JSON format.",
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        },
        _META + "ObjectMeta": _obj(
            "ObjectMeta is metadata that all persisted resources must have, which includes "
            "all objects users must create.",
            {
                "annotations": _str_map(
                    "Annotations is an unstructured key value map stored with a resource that "
                    "may be set by external tools to store and retrieve arbitrary metadata. "
                    "They are not queryable."
                ),
                "creationTimestamp": _ref(
                    _META + "Time",
                    "CreationTimestamp is a timestamp representing the server time when this "
                    "object was created. Set by the system. Read-only.",
                ),
                "deletionGracePeriodSeconds": _i64(
                    "Number of seconds allowed for this object to gracefully terminate before "
                    "it will be removed from the system. Read-only."
                ),
                "deletionTimestamp": _ref(
                    _META + "Time",
                    "DeletionTimestamp is the time after which this resource will be deleted. "
                    "Set by the server when a graceful deletion is requested. Read-only.",
                ),
                "finalizers": _strings(
                    "Must be empty before the object is deleted from the registry. Each entry "
                    "is an identifier for the responsible component that will remove the entry "
                    "from the list.",
                    **{
                        "x-kubernetes-list-type": "set",
                        "x-kubernetes-patch-strategy": "merge",
                    },
                ),
                "generateName": _s(
                    "GenerateName is an optional prefix, used by the server, to generate a "
                    "unique name ONLY IF the Name field has not been provided."
                ),
                "generation": _i64(
                    "A sequence number representing a specific generation of the desired "
                    "state. Populated by the system. Read-only."
                ),
                "labels": _str_map(
                    "Map of string keys and values that can be used to organize and categorize "
                    "(scope and select) objects."
                ),
                "managedFields": _list_of(
                    _META + "ManagedFieldsEntry",
                    "ManagedFields maps workflow-id and version to the set of fields that are "
                    "managed by that workflow. This is mostly for internal housekeeping.",
                    **{"x-kubernetes-list-type": "atomic"},
                ),
                "name": _s(
                    "Name must be unique within a namespace. Is required when creating "
                    "resources, although some resources may allow a client to request the "
                    "generation of an appropriate name automatically. Cannot be updated."
                ),
                "namespace": _s(
                    "Namespace defines the space within which each name must be unique. An "
                    'empty namespace is equivalent to the "default" namespace. Cannot be '
                    "updated."
                ),
                "ownerReferences": _keyed(
                    _META + "OwnerReference",
                    "List of objects depended by this object. If ALL objects in the list have "
                    "been deleted, this object will be garbage collected.",
                    "uid",
                ),
                "resourceVersion": _s(
                    "An opaque value that represents the internal version of this object that "
                    "can be used by clients to determine when objects have changed. Read-only."
                ),
                "selfLink": _s(
                    "Deprecated: selfLink is a legacy read-only field that is no "
                    "longer populated by the system."
                ),
                "uid": _s(
                    "UID is the unique in time and space value for this object. It is "
                    "generated by the server on successful creation of a resource. Read-only."
                ),
            },
        ),
        _META + "OwnerReference": _obj(
            "OwnerReference contains enough information to let you identify an owning object. "
            "An owning object must be in the same namespace as the dependent, or be "
            "cluster-scoped, so there is no namespace field.",
            {
                "apiVersion": _s("API version of the referent."),
                "blockOwnerDeletion": _b(
                    'If true, AND if the owner has the "foregroundDeletion" finalizer, then '
                    "the owner cannot be deleted from the key-value store until this reference "
                    "is removed."
                ),
                "controller": _b("If true, this reference points to the managing controller."),
                "kind": _s("Kind of the referent."),
                "name": _s("Name of the referent."),
                "uid": _s("UID of the referent."),
            },
            ["apiVersion", "kind", "name", "uid"],
            **{"x-kubernetes-map-type": "atomic"},
        ),
        _META + "ManagedFieldsEntry": _obj(
            "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the "
            "resource that the fieldset applies to.",
            {
                "apiVersion": _s(
                    "APIVersion defines the version of this resource that this "
                    "field set applies to."
                ),
                "fieldsType": _s(
                    "FieldsType is the discriminator for the different fields "
                    "format and version. There is currently only one possible "
                    'value: "FieldsV1"'
                ),
                "fieldsV1": _ref(
                    _META + "FieldsV1",
                    "FieldsV1 holds the first JSON version "
                    'format as described in the "FieldsV1" type.',
                ),
                "manager": _s("Manager is an identifier of the workflow managing these fields."),
                "operation": _s(
                    "Operation is the type of operation which lead to this "
                    "ManagedFieldsEntry being created. The only valid values for "
                    "this field are 'Apply' and 'Update'."
                ),
                "subresource": _s(
                    "Subresource is the name of the subresource used to update "
                    "that object, or empty string if the object was updated "
                    "through the main resource."
                ),
                "time": _ref(
                    _META + "Time",
                    "Time is the timestamp of when the ManagedFields entry was added.",
                ),
            },
        ),
        _META + "ListMeta": _obj(
            "ListMeta describes metadata that synthetic resources must have, including lists "
            "and various status objects.",
            {
                "continue": _s(
                    "continue may be set if the user set a limit on the number of "
                    "items returned, and indicates that the server has more data "
                    "available."
                ),
                "remainingItemCount": _i64(
                    "remainingItemCount is the number of subsequent "
                    "items in the list which are not included in this "
                    "list response."
                ),
                "resourceVersion": _s(
                    "String that identifies the server's internal version "
                    "of this object that can be used by clients to "
                    "determine when objects have changed."
                ),
                "selfLink": _s(
                    "Deprecated: selfLink is a legacy read-only field that is no "
                    "longer populated by the system."
                ),
            },
        ),
        _META + "LabelSelector": _obj(
            "A label selector is a label query over a set of resources. The result of "
            "matchLabels and matchExpressions are ANDed. An empty label selector matches all "
            "objects. A null label selector matches no objects.",
            {
                "matchExpressions": _list_of(
                    _META + "LabelSelectorRequirement",
                    "matchExpressions is a list of label selector requirements. The "
                    "requirements are ANDed.",
                    **{"x-kubernetes-list-type": "atomic"},
                ),
                "matchLabels": _str_map(
                    "matchLabels is a map of {key,value} pairs. A single {key,value} in the "
                    "matchLabels map is equivalent to an element of matchExpressions, whose key "
                    'field is "key", the operator is "In", and the values array contains '
                    'only "value".'
                ),
            },
            **{"x-kubernetes-map-type": "atomic"},
        ),
        _META + "LabelSelectorRequirement": _obj(
            "A label selector requirement is a selector that contains values, a key, and an "
            "operator that relates the key and values.",
            {
                "key": _s("key is the label key that the selector applies to."),
                "operator": _s(
                    "operator represents a key's relationship to a set of values. "
                    "Valid operators are In, NotIn, Exists and DoesNotExist."
                ),
                "values": _strings(
                    "values is an array of string values.", **{"x-kubernetes-list-type": "atomic"}
                ),
            },
            ["key", "operator"],
        ),
        _META + "Condition": _obj(
            "Condition contains details for one aspect of the current state of this API Resource.",
            {
                "lastTransitionTime": _ref(
                    _META + "Time",
                    "lastTransitionTime is the last "
                    "time the condition transitioned from one status "
                    "to another.",
                ),
                "message": _s(
                    "message is a human readable message indicating details about the transition."
                ),
                "observedGeneration": _i64(
                    "observedGeneration represents the "
                    ".metadata.generation that the condition was set "
                    "based upon."
                ),
                "reason": _s(
                    "reason contains a programmatic identifier indicating the reason "
                    "for the condition's last transition."
                ),
                "status": _s("status of the condition, one of True, False, Unknown."),
                "type": _s("type of condition in CamelCase or in foo.example.com/CamelCase."),
            },
            ["type", "status", "lastTransitionTime", "reason", "message"],
        ),
        _META + "Status": _obj(
            "Status is a return value for calls that don't return other objects.",
            {
                "apiVersion": _s(API_VERSION_DESCRIPTION),
                "code": _i32("Suggested HTTP return code for this status, 0 if not set."),
                "details": _ref(
                    _META + "StatusDetails",
                    "Extended data associated with the "
                    "reason. Each reason may define its own extended details.",
                ),
                "kind": _s(KIND_DESCRIPTION),
                "message": _s("A human-readable description of the status of this operation."),
                "metadata": _ref(_META + "ListMeta", LIST_METADATA_DESCRIPTION),
                "reason": _s(
                    "A machine-readable description of why this operation is in the "
                    '"Failure" status.'
                ),
                "status": _s('Status of the operation. One of: "Success" or "Failure".'),
            },
            **{"x-kubernetes-group-version-kind": _gvk("", "v1", "Status")},
        ),
        _META + "StatusDetails": _obj(
            "StatusDetails is a set of additional properties that MAY be set by the server to "
            "provide additional information about a response.",
            {
                "causes": _list_of(
                    _META + "StatusCause",
                    "The Causes array includes more "
                    "details associated with the StatusReason failure.",
                    **{"x-kubernetes-list-type": "atomic"},
                ),
                "group": _s(
                    "The group attribute of the resource associated with the status StatusReason."
                ),
                "kind": _s(
                    "The kind attribute of the resource associated with the status StatusReason."
                ),
                "name": _s(
                    "The name attribute of the resource associated with the status "
                    "StatusReason (when there is a single name which can be "
                    "described)."
                ),
                "retryAfterSeconds": _i32(
                    "If specified, the time in seconds before the operation should be retried."
                ),
                "uid": _s("UID of the resource."),
            },
        ),
        _META + "StatusCause": _obj(
            "StatusCause provides more information about an api.Status failure, including "
            "cases when multiple errors are encountered.",
            {
                "field": _s(
                    "The field of the resource that has caused this error, as named "
                    "by its JSON serialization."
                ),
                "message": _s("A human-readable description of the cause of the error."),
                "reason": _s("A machine-readable description of the cause of the error."),
            },
        ),
        _META + "Preconditions": _obj(
            "Preconditions must be fulfilled before an operation (update, delete, etc.) is "
            "carried out.",
            {
                "resourceVersion": _s("Specifies the target ResourceVersion"),
                "uid": _s("Specifies the target UID."),
            },
        ),
        _META + "DeleteOptions": _obj(
            "DeleteOptions may be provided when deleting an API object.",
            {
                "apiVersion": _s(API_VERSION_DESCRIPTION),
                "dryRun": _strings(
                    "When present, indicates that modifications should not be persisted.",
                    **{"x-kubernetes-list-type": "atomic"},
                ),
                "gracePeriodSeconds": _i64(
                    "The duration in seconds before the object should be deleted."
                ),
                "ignoreStoreReadErrorWithClusterBreakingPotential": _b(
                    "if set to true, it will trigger an unsafe deletion of the resource in case "
                    "the normal deletion flow fails with a corrupt object error."
                ),
                "kind": _s(KIND_DESCRIPTION),
                "orphanDependents": _b("Deprecated: please use the PropagationPolicy."),
                "preconditions": _ref(
                    _META + "Preconditions", "Must be fulfilled before a deletion is carried out."
                ),
                "propagationPolicy": _s(
                    "Whether and how garbage collection will be "
                    "performed: 'Orphan', 'Background' or 'Foreground'."
                ),
            },
        ),
        _META + "Patch": {
            "description": "Patch is provided to give a concrete name and type to the "
            "Kubernetes PATCH request body.",
            "type": "object",
        },
        _META + "WatchEvent": _obj(
            "Event represents a single event to a watched resource.",
            {
                "object": _ref(
                    _RAW,
                    "Object is: * If Type is Added or Modified: the new "
                    "state of the object. * If Type is Deleted: the state of the "
                    "object immediately before deletion. * If Type is Error: "
                    "*Status is recommended; other types may make sense depending "
                    "on context.",
                ),
                "type": _s("ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."),
            },
            ["type", "object"],
        ),
        _RAW: {
            "description": "RawExtension is used to hold extensions in external versions.",
            "type": "object",
        },
        _INTSTR: {
            "description": "IntOrString is a type that can hold an int32 or a string.",
            "type": "string",
            "format": "int-or-string",
        },
        _QUANTITY: {
            "description": "Quantity is a fixed-point representation of a number, such as "
            '"100m", "1Gi" or 2.',
            "type": "string",
        },
    }


def _core_definitions() -> dict[str, dict[str, Any]]:
    d: dict[str, dict[str, Any]] = {}
    d[_CORE + "Namespace"] = _kind_def(
        "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
        "",
        "v1",
        "Namespace",
        {
            "spec": _ref(_CORE + "NamespaceSpec", "Spec defines the behavior of the Namespace."),
            "status": _ref(
                _CORE + "NamespaceStatus",
                "Status describes the current status of a Namespace. Read-only.",
            ),
        },
    )
    d[_CORE + "NamespaceSpec"] = _obj(
        "NamespaceSpec describes the attributes on a Namespace.",
        {
            "finalizers": _strings(
                "Finalizers is an opaque list of values that must be empty to "
                "permanently remove object from storage.",
                **{"x-kubernetes-list-type": "atomic"},
            )
        },
    )
    d[_CORE + "NamespaceStatus"] = _obj(
        "NamespaceStatus is information about the current status of a Namespace.",
        {
            "conditions": _keyed(
                _CORE + "NamespaceCondition",
                "Represents the latest available observations of a namespace's current state.",
                "type",
            ),
            "phase": _s(
                "Phase is the current lifecycle phase of the namespace.",
                enum=["Active", "Terminating"],
            ),
        },
    )
    d[_CORE + "NamespaceCondition"] = _obj(
        "NamespaceCondition contains details about state of namespace.",
        {
            "lastTransitionTime": _ref(
                _META + "Time", "Last time the condition transitioned from one status to another."
            ),
            "message": _s("Human-readable message indicating details about last transition."),
            "reason": _s("Unique, one-word, CamelCase reason for the condition's last transition."),
            "status": _s("Status of the condition, one of True, False, Unknown."),
            "type": _s("Type of namespace controller condition."),
        },
        ["type", "status"],
    )
    d[_CORE + "ConfigMap"] = _kind_def(
        "ConfigMap holds configuration data for pods to consume.",
        "",
        "v1",
        "ConfigMap",
        {
            "binaryData": {
                "type": "object",
                "description": "BinaryData contains the binary data. Each key must consist of "
                "alphanumeric characters, '-', '_' or '.'.",
                "additionalProperties": {"type": "string", "format": "byte"},
            },
            "data": _str_map(
                "Data contains the configuration data. Each key must consist of "
                "alphanumeric characters, '-', '_' or '.'."
            ),
            "immutable": _b(
                "Immutable, if set to true, ensures that data stored in the "
                "ConfigMap cannot be updated (only object metadata can be "
                "modified)."
            ),
        },
    )
    d[_CORE + "Secret"] = _kind_def(
        "Secret holds secret data of a certain type. The total bytes of the values in the "
        "Data field must be less than MaxSecretSize bytes.",
        "",
        "v1",
        "Secret",
        {
            "data": {
                "type": "object",
                "description": "Data contains the secret data. The serialized form of the "
                "secret data is a base64 encoded string.",
                "additionalProperties": {"type": "string", "format": "byte"},
            },
            "immutable": _b(
                "Immutable, if set to true, ensures that data stored in the Secret "
                "cannot be updated (only object metadata can be modified)."
            ),
            "stringData": _str_map(
                "stringData allows specifying non-binary secret data in "
                "string form. It is provided as a write-only input field "
                "for convenience."
            ),
            "type": _s("Used to facilitate programmatic handling of secret data."),
        },
    )
    d[_CORE + "Service"] = _kind_def(
        "Service is a named abstraction of software service (for example, mysql) consisting "
        "of local port (for example 3306) that the proxy listens on, and the selector that "
        "determines which pods will answer requests sent through the proxy.",
        "",
        "v1",
        "Service",
        {
            "spec": _ref(_CORE + "ServiceSpec", "Spec defines the behavior of a service."),
            "status": _ref(
                _CORE + "ServiceStatus",
                "Most recently observed status of the service. Populated by the system. Read-only.",
            ),
        },
    )
    d[_CORE + "ServiceSpec"] = _obj(
        "ServiceSpec describes the attributes that a user creates on a service.",
        {
            "allocateLoadBalancerNodePorts": _b(
                "allocateLoadBalancerNodePorts defines if "
                "NodePorts will be automatically allocated "
                "for services with type LoadBalancer."
            ),
            "clusterIP": _s(
                "clusterIP is the IP address of the service and is usually assigned randomly."
            ),
            "clusterIPs": _strings(
                "ClusterIPs is a list of IP addresses assigned to this service.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "externalIPs": _strings(
                "externalIPs is a list of IP addresses for which nodes in "
                "the cluster will also accept traffic for this service.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "externalName": _s(
                "externalName is the external reference that discovery "
                "mechanisms will return as an alias for this service."
            ),
            "externalTrafficPolicy": _s(
                "externalTrafficPolicy describes how nodes distribute "
                "service traffic they receive on one of the Service's "
                '"externally-facing" addresses.',
                enum=["Cluster", "Local"],
            ),
            "healthCheckNodePort": _i32(
                "healthCheckNodePort specifies the healthcheck nodePort for the service."
            ),
            "internalTrafficPolicy": _s(
                "InternalTrafficPolicy describes how nodes distribute "
                "service traffic they receive on the ClusterIP.",
                enum=["Cluster", "Local"],
            ),
            "ipFamilies": _strings(
                "IPFamilies is a list of IP families (e.g. IPv4, IPv6) assigned to this service.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "ipFamilyPolicy": _s(
                "IPFamilyPolicy represents the dual-stack-ness requested or "
                "required by this Service.",
                enum=["PreferDualStack", "RequireDualStack", "SingleStack"],
            ),
            "loadBalancerClass": _s(
                "loadBalancerClass is the class of the load balancer "
                "implementation this Service belongs to."
            ),
            "loadBalancerIP": _s("Only applies to Service Type: LoadBalancer. Deprecated."),
            "loadBalancerSourceRanges": _strings(
                "If specified and supported by the platform, "
                "traffic through the cloud-provider "
                "load-balancer will be restricted to the "
                "specified client IPs.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "ports": _list_of(
                _CORE + "ServicePort",
                "The list of ports that are exposed by this service.",
                **_list_map("port", "protocol"),
            ),
            "publishNotReadyAddresses": _b(
                "publishNotReadyAddresses indicates that any agent "
                "which deals with endpoints for this Service should "
                "disregard any indications of ready/not-ready."
            ),
            "selector": _str_map(
                "Route service traffic to pods with label keys and values matching this selector.",
                **{"x-kubernetes-map-type": "atomic"},
            ),
            "sessionAffinity": _s(
                'Supports "ClientIP" and "None". Used to maintain session affinity.',
                enum=["ClientIP", "None"],
            ),
            "sessionAffinityConfig": _opaque(
                "sessionAffinityConfig contains the configurations of session affinity."
            ),
            "trafficDistribution": _s(
                "TrafficDistribution offers a way to express "
                "preferences for how traffic is distributed to Service "
                "endpoints."
            ),
            "type": _s(
                "type determines how the Service is exposed. Defaults to ClusterIP.",
                enum=["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
            ),
        },
    )
    d[_CORE + "ServicePort"] = _obj(
        "ServicePort contains information on service's port.",
        {
            "appProtocol": _s("The application protocol for this port."),
            "name": _s("The name of this port within the service. This must be a DNS_LABEL."),
            "nodePort": _i32(
                "The port on each node on which this service is exposed when "
                "type is NodePort or LoadBalancer."
            ),
            "port": _i32("The port that will be exposed by this service."),
            "protocol": _s(
                'The IP protocol for this port. Supports "TCP", "UDP", and "SCTP". Default is TCP.',
                default="TCP",
                enum=["SCTP", "TCP", "UDP"],
            ),
            "targetPort": _ref(
                _INTSTR, "Number or name of the port to access on the pods targeted by the service."
            ),
        },
        ["port"],
    )
    d[_CORE + "ServiceStatus"] = _obj(
        "ServiceStatus represents the current status of a service.",
        {
            "conditions": _keyed(_META + "Condition", "Current service state", "type"),
            "loadBalancer": _ref(
                _CORE + "LoadBalancerStatus",
                "LoadBalancer contains the current status of the load-balancer, if one is present.",
            ),
        },
    )
    d[_CORE + "LoadBalancerStatus"] = _obj(
        "LoadBalancerStatus represents the status of a load-balancer.",
        {
            "ingress": _list_of(
                _CORE + "LoadBalancerIngress",
                "Ingress is a list containing ingress points for the load-balancer.",
                **{"x-kubernetes-list-type": "atomic"},
            )
        },
    )
    d[_CORE + "LoadBalancerIngress"] = _obj(
        "LoadBalancerIngress represents the status of a load-balancer ingress point: traffic "
        "intended for the service should be sent to an ingress point.",
        {
            "hostname": _s("Hostname is set for load-balancer ingress points that are DNS based."),
            "ip": _s("IP is set for load-balancer ingress points that are IP based."),
            "ipMode": _s('IPMode specifies how the load-balancer IP behaves: "VIP" or "Proxy".'),
            "ports": _opaque_list("Ports is a list of records of service ports."),
        },
    )
    d[_CORE + "ServiceAccount"] = _kind_def(
        "ServiceAccount binds together: * a name, understood by users, and perhaps by "
        "peripheral systems, for an identity * a principal that can be authenticated and "
        "authorized * a set of secrets",
        "",
        "v1",
        "ServiceAccount",
        {
            "automountServiceAccountToken": _b(
                "AutomountServiceAccountToken indicates whether "
                "pods running as this service account should "
                "have an API token automatically mounted."
            ),
            "imagePullSecrets": _list_of(
                _CORE + "LocalObjectReference",
                "ImagePullSecrets is "
                "a list of references to secrets in the same "
                "namespace to use for pulling any images.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "secrets": _list_of(
                _CORE + "ObjectReference",
                "Secrets is a list of the secrets in the same namespace that pods running "
                "using this ServiceAccount are allowed to use.",
                **_list_map("name"),
            ),
        },
    )
    d[_CORE + "ObjectReference"] = _obj(
        "ObjectReference contains enough information to let you inspect or modify the "
        "referred object.",
        {
            "apiVersion": _s("API version of the referent."),
            "fieldPath": _s(
                "If referring to a piece of an object instead of an entire "
                "object, this string should contain a valid JSON/Go field access "
                "statement."
            ),
            "kind": _s("Kind of the referent."),
            "name": _s("Name of the referent."),
            "namespace": _s("Namespace of the referent."),
            "resourceVersion": _s(
                "Specific resourceVersion to which this reference is made, if any."
            ),
            "uid": _s("UID of the referent."),
        },
        **{"x-kubernetes-map-type": "atomic"},
    )
    d[_CORE + "LocalObjectReference"] = _obj(
        "LocalObjectReference contains enough information to let you locate the referenced "
        "object inside the same namespace.",
        {"name": _s("Name of the referent.", default="")},
        **{"x-kubernetes-map-type": "atomic"},
    )
    d.update(_pod_definitions())
    return d


def _pod_definitions() -> dict[str, dict[str, Any]]:
    d: dict[str, dict[str, Any]] = {}
    d[_CORE + "PodTemplateSpec"] = _obj(
        "PodTemplateSpec describes the data a pod should have when created from a template",
        {
            "metadata": _ref(_META + "ObjectMeta", OBJECT_METADATA_DESCRIPTION),
            "spec": _ref(_CORE + "PodSpec", "Specification of the desired behavior of the pod."),
        },
    )
    container_list = _list_map("name")
    d[_CORE + "PodSpec"] = _obj(
        "PodSpec is a description of a pod.",
        {
            "activeDeadlineSeconds": _i64(
                "Optional duration in seconds the pod may be active "
                "on the node relative to StartTime."
            ),
            "affinity": _opaque("If specified, the pod's scheduling constraints"),
            "automountServiceAccountToken": _b(
                "AutomountServiceAccountToken indicates whether "
                "a service account token should be "
                "automatically mounted."
            ),
            "containers": _list_of(
                _CORE + "Container",
                "List of containers belonging to the "
                "pod. There must be at least one container in a Pod.",
                **container_list,
            ),
            "dnsConfig": _opaque("Specifies the DNS parameters of a pod."),
            "dnsPolicy": _s('Set DNS policy for the pod. Defaults to "ClusterFirst".'),
            "enableServiceLinks": _b(
                "EnableServiceLinks indicates whether information about "
                "services should be injected into pod's environment "
                "variables."
            ),
            "hostAliases": _opaque_list(
                "HostAliases is an optional list of hosts and IPs "
                "that will be injected into the pod's hosts file."
            ),
            "hostIPC": _b("Use the host's ipc namespace. Optional: Default to false."),
            "hostNetwork": _b("Host networking requested for this pod."),
            "hostPID": _b("Use the host's pid namespace. Optional: Default to false."),
            "hostname": _s("Specifies the hostname of the Pod."),
            "imagePullSecrets": _keyed(
                _CORE + "LocalObjectReference",
                "ImagePullSecrets is "
                "an optional list of references to secrets in the same "
                "namespace to use for pulling any of the images used "
                "by this PodSpec.",
                "name",
            ),
            "initContainers": _list_of(
                _CORE + "Container",
                "List of initialization containers belonging to the pod.",
                **container_list,
            ),
            "nodeName": _s("NodeName indicates in which node this pod is scheduled."),
            "nodeSelector": _str_map(
                "NodeSelector is a selector which must be true for the pod to fit on a node.",
                **{"x-kubernetes-map-type": "atomic"},
            ),
            "preemptionPolicy": _s(
                "PreemptionPolicy is the Policy for preempting pods with lower priority."
            ),
            "priority": _i32("The priority value."),
            "priorityClassName": _s("If specified, indicates the pod's priority."),
            "readinessGates": _opaque_list(
                "If specified, all readiness gates will be evaluated for pod readiness."
            ),
            "restartPolicy": _s(
                "Restart policy for all containers within the pod. One of "
                "Always, OnFailure, Never.",
                enum=["Always", "Never", "OnFailure"],
            ),
            "runtimeClassName": _s(
                "RuntimeClassName refers to a RuntimeClass object in the node.k8s.io group."
            ),
            "schedulerName": _s("If specified, the pod will be dispatched by specified scheduler."),
            "securityContext": _ref(
                _CORE + "PodSecurityContext",
                "SecurityContext holds "
                "pod-level security attributes and common container "
                "settings.",
            ),
            "serviceAccount": _s(
                "DeprecatedServiceAccount is a deprecated alias for ServiceAccountName."
            ),
            "serviceAccountName": _s(
                "ServiceAccountName is the name of the ServiceAccount to use to run this pod."
            ),
            "setHostnameAsFQDN": _b(
                "If true the pod's hostname will be configured as the pod's FQDN."
            ),
            "shareProcessNamespace": _b(
                "Share a single process namespace between all of the containers in a pod."
            ),
            "subdomain": _s(
                "If specified, the fully qualified Pod hostname will be "
                '"<hostname>.<subdomain>.<pod namespace>.svc.<cluster domain>".'
            ),
            "terminationGracePeriodSeconds": _i64(
                "Optional duration in seconds the pod needs to terminate gracefully."
            ),
            "tolerations": _list_of(
                _CORE + "Toleration",
                "If specified, the pod's tolerations.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "topologySpreadConstraints": _opaque_list(
                "TopologySpreadConstraints describes how "
                "a group of pods ought to spread across "
                "topology domains."
            ),
            "volumes": _list_of(
                _CORE + "Volume",
                "List of volumes that can be mounted by containers belonging to the pod.",
                **_list_map("name", strategy="merge,retainKeys"),
            ),
        },
        ["containers"],
    )
    probe = "Periodic probe of container liveness. Container will be restarted if the probe fails."
    d[_CORE + "Container"] = _obj(
        "A single application container that you want to run within a pod.",
        {
            "args": _strings(
                "Arguments to the entrypoint.", **{"x-kubernetes-list-type": "atomic"}
            ),
            "command": _strings(
                "Entrypoint array. Not executed within a shell.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "env": _keyed(
                _CORE + "EnvVar",
                "List of environment variables to set in the container. Cannot be updated.",
                "name",
            ),
            "envFrom": _list_of(
                _CORE + "EnvFromSource",
                "List of sources to populate environment variables in the container.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "image": _s("Container image name."),
            "imagePullPolicy": _s(
                "Image pull policy. One of Always, Never, IfNotPresent.",
                enum=["Always", "IfNotPresent", "Never"],
            ),
            "lifecycle": _opaque(
                "Actions that the management system should take in response "
                "to container lifecycle events."
            ),
            "livenessProbe": _ref(_CORE + "Probe", probe),
            "name": _s("Name of the container specified as a DNS_LABEL.", default=""),
            "ports": _list_of(
                _CORE + "ContainerPort",
                "List of ports to expose from the container.",
                **_list_map("containerPort", "protocol"),
            ),
            "readinessProbe": _ref(
                _CORE + "Probe", "Periodic probe of container service readiness."
            ),
            "resizePolicy": _opaque_list("Resources resize policy for the container."),
            "resources": _ref(
                _CORE + "ResourceRequirements", "Compute Resources required by this container."
            ),
            "restartPolicy": _s(
                "RestartPolicy defines the restart behavior of individual containers in a pod."
            ),
            "securityContext": _ref(
                _CORE + "SecurityContext",
                "SecurityContext defines the security options the container should be run with.",
            ),
            "startupProbe": _ref(
                _CORE + "Probe", "StartupProbe indicates that the Pod has successfully initialized."
            ),
            "stdin": _b(
                "Whether this container should allocate a buffer for stdin in the "
                "container runtime."
            ),
            "stdinOnce": _b(
                "Whether the container runtime should close the stdin channel "
                "after it has been opened by a single attach."
            ),
            "terminationMessagePath": _s(
                "Path at which the file to which the container's "
                "termination message will be written is mounted."
            ),
            "terminationMessagePolicy": _s(
                "Indicate how the termination message should be populated.",
                enum=["FallbackToLogsOnError", "File"],
            ),
            "tty": _b("Whether this container should allocate a TTY for itself."),
            "volumeDevices": _opaque_list(
                "volumeDevices is the list of block devices to be used by the container."
            ),
            "volumeMounts": _keyed(
                _CORE + "VolumeMount",
                "Pod volumes to mount into the container's filesystem.",
                "mountPath",
            ),
            "workingDir": _s("Container's working directory."),
        },
        ["name"],
    )
    d[_CORE + "EnvVar"] = _obj(
        "EnvVar represents an environment variable present in a Container.",
        {
            "name": _s("Name of the environment variable. Must be a C_IDENTIFIER.", default=""),
            "value": _s(
                "Variable references $(VAR_NAME) are expanded using the previously "
                'defined environment variables in the container. Defaults to "".'
            ),
            "valueFrom": _ref(
                _CORE + "EnvVarSource",
                "Source for the environment variable's "
                "value. Cannot be used if value is not empty.",
            ),
        },
        ["name"],
    )
    d[_CORE + "EnvVarSource"] = _obj(
        "EnvVarSource represents a source for the value of an EnvVar.",
        {
            "configMapKeyRef": _ref(
                _CORE + "ConfigMapKeySelector", "Selects a key of a ConfigMap."
            ),
            "fieldRef": _ref(_CORE + "ObjectFieldSelector", "Selects a field of the pod."),
            "resourceFieldRef": _ref(
                _CORE + "ResourceFieldSelector", "Selects a resource of the container."
            ),
            "secretKeyRef": _ref(
                _CORE + "SecretKeySelector", "Selects a key of a secret in the pod's namespace"
            ),
        },
    )
    for kind, what in (("ConfigMap", "ConfigMap"), ("Secret", "Secret")):
        d[_CORE + f"{kind}KeySelector"] = _obj(
            f"Selects a key from a {what}.",
            {
                "key": _s(f"The key of the {what} to select from.", default=""),
                "name": _s("Name of the referent.", default=""),
                "optional": _b(f"Specify whether the {what} or its key must be defined"),
            },
            ["key"],
            **{"x-kubernetes-map-type": "atomic"},
        )
        d[_CORE + f"{kind}EnvSource"] = _obj(
            f"{what}EnvSource selects a {what} to populate the environment variables with.",
            {
                "name": _s("Name of the referent.", default=""),
                "optional": _b(f"Specify whether the {what} must be defined"),
            },
        )
    d[_CORE + "ObjectFieldSelector"] = _obj(
        "ObjectFieldSelector selects an APIVersioned field of an object.",
        {
            "apiVersion": _s("Version of the schema the FieldPath is written in terms of."),
            "fieldPath": _s(
                "Path of the field to select in the specified API version.", default=""
            ),
        },
        ["fieldPath"],
        **{"x-kubernetes-map-type": "atomic"},
    )
    d[_CORE + "ResourceFieldSelector"] = _obj(
        "ResourceFieldSelector represents container resources (cpu, memory) and their output "
        "format",
        {
            "containerName": _s("Container name: required for volumes, optional for env vars"),
            "divisor": _ref(
                _QUANTITY, 'Specifies the output format of the exposed resources, defaults to "1"'
            ),
            "resource": _s("Required: resource to select", default=""),
        },
        ["resource"],
        **{"x-kubernetes-map-type": "atomic"},
    )
    d[_CORE + "EnvFromSource"] = _obj(
        "EnvFromSource represents the source of a set of ConfigMaps or Secrets",
        {
            "configMapRef": _ref(_CORE + "ConfigMapEnvSource", "The ConfigMap to select from"),
            "prefix": _s("Optional text to prepend to the name of each environment variable."),
            "secretRef": _ref(_CORE + "SecretEnvSource", "The Secret to select from"),
        },
    )
    d[_CORE + "ContainerPort"] = _obj(
        "ContainerPort represents a network port in a single container.",
        {
            "containerPort": _i32("Number of port to expose on the pod's IP address."),
            "hostIP": _s("What host IP to bind the external port to."),
            "hostPort": _i32("Number of port to expose on the host."),
            "name": _s("If specified, this must be an IANA_SVC_NAME and unique within the pod."),
            "protocol": _s(
                'Protocol for port. Must be UDP, TCP, or SCTP. Defaults to "TCP".',
                default="TCP",
                enum=["SCTP", "TCP", "UDP"],
            ),
        },
        ["containerPort"],
    )
    d[_CORE + "ResourceRequirements"] = _obj(
        "ResourceRequirements describes the compute resource requirements.",
        {
            "claims": _opaque_list(
                "Claims lists the names of resources, defined in "
                "spec.resourceClaims, that are used by this container."
            ),
            "limits": {
                "type": "object",
                "description": "Limits describes the maximum amount of compute resources allowed.",
                "additionalProperties": _ref(_QUANTITY),
            },
            "requests": {
                "type": "object",
                "description": "Requests describes the minimum amount of compute resources "
                "required.",
                "additionalProperties": _ref(_QUANTITY),
            },
        },
    )
    d[_CORE + "VolumeMount"] = _obj(
        "VolumeMount describes a mounting of a Volume within a container.",
        {
            "mountPath": _s(
                "Path within the container at which the volume should be mounted.", default=""
            ),
            "mountPropagation": _s(
                "mountPropagation determines how mounts are propagated from "
                "the host to container and the other way around."
            ),
            "name": _s("This must match the Name of a Volume.", default=""),
            "readOnly": _b(
                "Mounted read-only if true, read-write otherwise (false or unspecified)."
            ),
            "recursiveReadOnly": _s(
                "RecursiveReadOnly specifies whether read-only mounts "
                "should be handled recursively."
            ),
            "subPath": _s(
                "Path within the volume from which the container's volume should be mounted."
            ),
            "subPathExpr": _s(
                "Expanded path within the volume from which the container's "
                "volume should be mounted."
            ),
        },
        ["name", "mountPath"],
    )
    d[_CORE + "Probe"] = _obj(
        "Probe describes a health check to be performed against a container to determine "
        "whether it is alive or ready to receive traffic.",
        {
            "exec": _ref(
                _CORE + "ExecAction", "Exec specifies a command to execute in the container."
            ),
            "failureThreshold": _i32(
                "Minimum consecutive failures for the probe to be "
                "considered failed after having succeeded."
            ),
            "grpc": _ref(_CORE + "GRPCAction", "GRPC specifies a GRPC HealthCheckRequest."),
            "httpGet": _ref(
                _CORE + "HTTPGetAction", "HTTPGet specifies an HTTP GET request to perform."
            ),
            "initialDelaySeconds": _i32(
                "Number of seconds after the container has started "
                "before liveness probes are initiated."
            ),
            "periodSeconds": _i32(
                "How often (in seconds) to perform the probe. Default to 10 seconds."
            ),
            "successThreshold": _i32(
                "Minimum consecutive successes for the probe to be "
                "considered successful after having failed."
            ),
            "tcpSocket": _ref(
                _CORE + "TCPSocketAction", "TCPSocket specifies a connection to a TCP port."
            ),
            "terminationGracePeriodSeconds": _i64(
                "Optional duration in seconds the pod needs "
                "to terminate gracefully upon probe "
                "failure."
            ),
            "timeoutSeconds": _i32(
                "Number of seconds after which the probe times out. Defaults to 1 second."
            ),
        },
    )
    d[_CORE + "ExecAction"] = _obj(
        'ExecAction describes a "run in container" action.',
        {
            "command": _strings(
                "Command is the command line to execute inside the container.",
                **{"x-kubernetes-list-type": "atomic"},
            )
        },
    )
    d[_CORE + "GRPCAction"] = _obj(
        "GRPCAction specifies an action involving a GRPC service.",
        {
            "port": _i32(
                "Port number of the gRPC service. Number must be in the range 1 to 65535."
            ),
            "service": _s(
                "Service is the name of the service to place in the gRPC HealthCheckRequest.",
                default="",
            ),
        },
        ["port"],
    )
    d[_CORE + "HTTPGetAction"] = _obj(
        "HTTPGetAction describes an action based on HTTP Get requests.",
        {
            "host": _s("Host name to connect to, defaults to the pod IP."),
            "httpHeaders": _list_of(
                _CORE + "HTTPHeader",
                "Custom headers to set in the request. HTTP allows repeated headers.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "path": _s("Path to access on the HTTP server."),
            "port": _ref(_INTSTR, "Name or number of the port to access on the container."),
            "scheme": _s(
                "Scheme to use for connecting to the host. Defaults to HTTP.",
                enum=["HTTP", "HTTPS"],
            ),
        },
        ["port"],
    )
    d[_CORE + "HTTPHeader"] = _obj(
        "HTTPHeader describes a custom header to be used in HTTP probes",
        {
            "name": _s("The header field name.", default=""),
            "value": _s("The header field value", default=""),
        },
        ["name", "value"],
    )
    d[_CORE + "TCPSocketAction"] = _obj(
        "TCPSocketAction describes an action based on opening a socket",
        {
            "host": _s("Optional: Host name to connect to, defaults to the pod IP."),
            "port": _ref(_INTSTR, "Number or name of the port to access on the container."),
        },
        ["port"],
    )
    d[_CORE + "SecurityContext"] = _obj(
        "SecurityContext holds security configuration that will be applied to a container.",
        {
            "allowPrivilegeEscalation": _b(
                "AllowPrivilegeEscalation controls whether a "
                "process can gain more privileges than its parent "
                "process."
            ),
            "appArmorProfile": _opaque(
                "appArmorProfile is the AppArmor options to use by this container."
            ),
            "capabilities": _ref(
                _CORE + "Capabilities", "The capabilities to add/drop when running containers."
            ),
            "privileged": _b("Run container in privileged mode."),
            "procMount": _s("procMount denotes the type of proc mount to use for the containers."),
            "readOnlyRootFilesystem": _b("Whether this container has a read-only root filesystem."),
            "runAsGroup": _i64("The GID to run the entrypoint of the container process."),
            "runAsNonRoot": _b("Indicates that the container must run as a non-root user."),
            "runAsUser": _i64("The UID to run the entrypoint of the container process."),
            "seLinuxOptions": _opaque("The SELinux context to be applied to the container."),
            "seccompProfile": _ref(
                _CORE + "SeccompProfile", "The seccomp options to use by this container."
            ),
            "windowsOptions": _opaque("The Windows specific settings applied to all containers."),
        },
    )
    d[_CORE + "Capabilities"] = _obj(
        "Adds and removes POSIX capabilities from running containers.",
        {
            "add": _strings("Added capabilities", **{"x-kubernetes-list-type": "atomic"}),
            "drop": _strings("Removed capabilities", **{"x-kubernetes-list-type": "atomic"}),
        },
    )
    d[_CORE + "SeccompProfile"] = _obj(
        "SeccompProfile defines a pod/container's seccomp profile settings. Only one profile "
        "source may be set.",
        {
            "localhostProfile": _s(
                "localhostProfile indicates a profile defined in a file on the node should be used."
            ),
            "type": _s(
                "type indicates which kind of seccomp profile will be applied.",
                default="",
                enum=["Localhost", "RuntimeDefault", "Unconfined"],
            ),
        },
        ["type"],
    )
    d[_CORE + "PodSecurityContext"] = _obj(
        "PodSecurityContext holds pod-level security attributes and common container settings.",
        {
            "appArmorProfile": _opaque(
                "appArmorProfile is the AppArmor options to use by the containers in this pod."
            ),
            "fsGroup": _i64(
                "A special supplemental group that applies to all containers in a pod."
            ),
            "fsGroupChangePolicy": _s(
                "fsGroupChangePolicy defines behavior of changing "
                "ownership and permission of the volume before being "
                "exposed inside Pod."
            ),
            "runAsGroup": _i64("The GID to run the entrypoint of the container process."),
            "runAsNonRoot": _b("Indicates that the container must run as a non-root user."),
            "runAsUser": _i64("The UID to run the entrypoint of the container process."),
            "seLinuxOptions": _opaque("The SELinux context to be applied to all containers."),
            "seccompProfile": _ref(
                _CORE + "SeccompProfile",
                "The seccomp options to use by the containers in this pod.",
            ),
            "supplementalGroups": {
                "type": "array",
                "description": "A list of groups applied to the first process run in each "
                "container.",
                "items": {"type": "integer", "format": "int64"},
                "x-kubernetes-list-type": "atomic",
            },
            "sysctls": _opaque_list("Sysctls hold a list of namespaced sysctls used for the pod."),
            "windowsOptions": _opaque("The Windows specific settings applied to all containers."),
        },
    )
    d[_CORE + "Toleration"] = _obj(
        "The pod this Toleration is attached to tolerates any taint that matches the triple "
        "<key,value,effect> using the matching operator <operator>.",
        {
            "effect": _s("Effect indicates the taint effect to match."),
            "key": _s("Key is the taint key that the toleration applies to."),
            "operator": _s(
                "Operator represents a key's relationship to the value: Exists or Equal."
            ),
            "tolerationSeconds": _i64(
                "TolerationSeconds represents the period of time the "
                "toleration tolerates the taint."
            ),
            "value": _s("Value is the taint value the toleration matches to."),
        },
    )
    volume = _obj(
        "Volume represents a named volume in a pod that may be accessed by any container in "
        "the pod.",
        {
            "configMap": _ref(
                _CORE + "ConfigMapVolumeSource",
                "configMap represents a configMap that should populate this volume",
            ),
            "emptyDir": _ref(
                _CORE + "EmptyDirVolumeSource",
                "emptyDir represents a temporary directory that shares a pod's lifetime.",
            ),
            "name": _s(
                "name of the volume. Must be a DNS_LABEL and unique within the pod.", default=""
            ),
            "persistentVolumeClaim": _ref(
                _CORE + "PersistentVolumeClaimVolumeSource",
                "persistentVolumeClaimVolumeSource represents a "
                "reference to a PersistentVolumeClaim in the same "
                "namespace.",
            ),
            "secret": _ref(
                _CORE + "SecretVolumeSource",
                "secret represents a secret that should populate this volume.",
            ),
        },
        ["name"],
    )
    volume["x-kubernetes-preserve-unknown-fields"] = True
    d[_CORE + "Volume"] = volume
    key_to_path = _list_of(
        _CORE + "KeyToPath",
        "items: each key-value pair is projected into "
        "the volume as a file whose name is the key and content is the "
        "value.",
        **{"x-kubernetes-list-type": "atomic"},
    )
    d[_CORE + "ConfigMapVolumeSource"] = _obj(
        "Adapts a ConfigMap into a volume.",
        {
            "defaultMode": _i32(
                "defaultMode is optional: mode bits used to set permissions on "
                "created files by default."
            ),
            "items": key_to_path,
            "name": _s("Name of the referent.", default=""),
            "optional": _b("optional specify whether the ConfigMap or its keys must be defined"),
        },
    )
    d[_CORE + "SecretVolumeSource"] = _obj(
        "Adapts a Secret into a volume.",
        {
            "defaultMode": _i32(
                "defaultMode is Optional: mode bits used to set permissions on "
                "created files by default."
            ),
            "items": key_to_path,
            "optional": _b("optional field specify whether the Secret or its keys must be defined"),
            "secretName": _s("secretName is the name of the secret in the pod's namespace to use."),
        },
    )
    d[_CORE + "KeyToPath"] = _obj(
        "Maps a string key to a path within a volume.",
        {
            "key": _s("key is the key to project.", default=""),
            "mode": _i32("mode is Optional: mode bits used to set permissions on this file."),
            "path": _s("path is the relative path of the file to map the key to.", default=""),
        },
        ["key", "path"],
    )
    d[_CORE + "EmptyDirVolumeSource"] = _obj(
        "Represents an empty directory for a pod.",
        {
            "medium": _s(
                "medium represents what type of storage medium should back this directory."
            ),
            "sizeLimit": _ref(
                _QUANTITY,
                "sizeLimit is the total amount of local storage required for this EmptyDir volume.",
            ),
        },
    )
    d[_CORE + "PersistentVolumeClaimVolumeSource"] = _obj(
        "PersistentVolumeClaimVolumeSource references the user's PVC in the same namespace.",
        {
            "claimName": _s(
                "claimName is the name of a PersistentVolumeClaim in the same "
                "namespace as the pod using this volume.",
                default="",
            ),
            "readOnly": _b("readOnly Will force the ReadOnly setting in VolumeMounts."),
        },
        ["claimName"],
    )
    return d


def _apps_definitions() -> dict[str, dict[str, Any]]:
    d: dict[str, dict[str, Any]] = {}
    d[_APPS + "Deployment"] = _kind_def(
        "Deployment enables declarative updates for Pods and ReplicaSets.",
        "apps",
        "v1",
        "Deployment",
        {
            "spec": _ref(
                _APPS + "DeploymentSpec", "Specification of the desired behavior of the Deployment."
            ),
            "status": _ref(
                _APPS + "DeploymentStatus", "Most recently observed status of the Deployment."
            ),
        },
    )
    d[_APPS + "DeploymentSpec"] = _obj(
        "DeploymentSpec is the specification of the desired behavior of the Deployment.",
        {
            "minReadySeconds": _i32(
                "Minimum number of seconds for which a newly created pod "
                "should be ready without any of its container crashing, "
                "for it to be considered available."
            ),
            "paused": _b("Indicates that the deployment is paused."),
            "progressDeadlineSeconds": _i32(
                "The maximum time in seconds for a deployment to "
                "make progress before it is considered to be "
                "failed."
            ),
            "replicas": _i32("Number of desired pods. Defaults to 1."),
            "revisionHistoryLimit": _i32(
                "The number of old ReplicaSets to retain to allow rollback."
            ),
            "selector": _ref(
                _META + "LabelSelector",
                "Label selector for pods. Existing "
                "ReplicaSets whose pods are selected by this will be the ones "
                "affected by this deployment.",
            ),
            "strategy": _ref(
                _APPS + "DeploymentStrategy",
                "The deployment strategy to use to replace existing pods with new ones.",
                **{"x-kubernetes-patch-strategy": "retainKeys"},
            ),
            "template": _ref(
                _CORE + "PodTemplateSpec", "Template describes the pods that will be created."
            ),
        },
        ["selector", "template"],
    )
    d[_APPS + "DeploymentStrategy"] = _obj(
        "DeploymentStrategy describes how to replace existing pods with new ones.",
        {
            "rollingUpdate": _ref(
                _APPS + "RollingUpdateDeployment",
                "Rolling update config "
                "params. Present only if DeploymentStrategyType = "
                "RollingUpdate.",
            ),
            "type": _s(
                'Type of deployment. Can be "Recreate" or "RollingUpdate". Default '
                "is RollingUpdate.",
                enum=["Recreate", "RollingUpdate"],
            ),
        },
    )
    d[_APPS + "RollingUpdateDeployment"] = _obj(
        "Spec to control the desired behavior of rolling update.",
        {
            "maxSurge": _ref(
                _INTSTR,
                "The maximum number of pods that can be scheduled above "
                "the desired number of pods.",
            ),
            "maxUnavailable": _ref(
                _INTSTR, "The maximum number of pods that can be unavailable during the update."
            ),
        },
    )
    d[_APPS + "DeploymentStatus"] = _obj(
        "DeploymentStatus is the most recently observed status of the Deployment.",
        {
            "availableReplicas": _i32(
                "Total number of available pods (ready for at least "
                "minReadySeconds) targeted by this deployment."
            ),
            "collisionCount": _i32("Count of hash collisions for the Deployment."),
            "conditions": _keyed(
                _APPS + "DeploymentCondition",
                "Represents the latest available observations of a deployment's current state.",
                "type",
            ),
            "observedGeneration": _i64("The generation observed by the deployment controller."),
            "readyReplicas": _i32("Total number of ready pods targeted by this deployment."),
            "replicas": _i32(
                "Total number of non-terminated pods targeted by this "
                "deployment (their labels match the selector)."
            ),
            "terminatingReplicas": _i32(
                "Total number of terminating pods targeted by this deployment."
            ),
            "unavailableReplicas": _i32(
                "Total number of unavailable pods targeted by this deployment."
            ),
            "updatedReplicas": _i32(
                "Total number of non-terminated pods targeted by this "
                "deployment that have the desired template spec."
            ),
        },
    )
    d[_APPS + "DeploymentCondition"] = _obj(
        "DeploymentCondition describes the state of a deployment at a certain point.",
        {
            "lastTransitionTime": _ref(
                _META + "Time", "Last time the condition transitioned from one status to another."
            ),
            "lastUpdateTime": _ref(_META + "Time", "The last time this condition was updated."),
            "message": _s("A human readable message indicating details about the transition."),
            "reason": _s("The reason for the condition's last transition."),
            "status": _s("Status of the condition, one of True, False, Unknown."),
            "type": _s("Type of deployment condition."),
        },
        ["type", "status"],
    )
    return d


def _apiextensions_definitions() -> dict[str, dict[str, Any]]:
    d: dict[str, dict[str, Any]] = {}
    d[_APIEXT + "CustomResourceDefinition"] = _kind_def(
        "CustomResourceDefinition represents a resource that should be exposed on the API "
        "server.  Its name MUST be in the format <.spec.name>.<.spec.group>.",
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        {
            "spec": _ref(
                _APIEXT + "CustomResourceDefinitionSpec",
                "spec describes how the user wants the resources to appear",
            ),
            "status": _ref(
                _APIEXT + "CustomResourceDefinitionStatus",
                "status indicates the actual state of the CustomResourceDefinition",
            ),
        },
        ["spec"],
    )
    d[_APIEXT + "CustomResourceDefinitionSpec"] = _obj(
        "CustomResourceDefinitionSpec describes how a user wants their resource to appear",
        {
            "conversion": _opaque("conversion defines conversion settings for the CRD."),
            "group": _s("group is the API group of the defined custom resource.", default=""),
            "names": _ref(
                _APIEXT + "CustomResourceDefinitionNames",
                "names specify the resource and kind names for the custom resource.",
            ),
            "preserveUnknownFields": _b(
                "preserveUnknownFields indicates that object fields "
                "which are not specified in the OpenAPI schema should "
                "be preserved when persisting to storage."
            ),
            "scope": _s(
                "scope indicates whether the defined custom resource is cluster- or "
                "namespace-scoped. Allowed values are `Cluster` and `Namespaced`.",
                default="",
            ),
            "versions": _list_of(
                _APIEXT + "CustomResourceDefinitionVersion",
                "versions is the list of all API versions of the defined custom resource.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
        },
        ["group", "names", "scope", "versions"],
    )
    d[_APIEXT + "CustomResourceDefinitionNames"] = _obj(
        "CustomResourceDefinitionNames indicates the names to serve this CustomResourceDefinition",
        {
            "categories": _strings(
                "categories is a list of grouped resources this custom "
                "resource belongs to (e.g. 'all').",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "kind": _s("kind is the serialized kind of the resource.", default=""),
            "listKind": _s("listKind is the serialized kind of the list for this resource."),
            "plural": _s("plural is the plural name of the resource to serve.", default=""),
            "shortNames": _strings(
                "shortNames are short names for the resource, exposed in API discovery documents.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "singular": _s("singular is the singular name of the resource."),
        },
        ["plural", "kind"],
    )
    d[_APIEXT + "CustomResourceDefinitionVersion"] = _obj(
        "CustomResourceDefinitionVersion describes a version for CRD.",
        {
            "additionalPrinterColumns": _list_of(
                _APIEXT + "CustomResourceColumnDefinition",
                "additionalPrinterColumns specifies additional columns returned in Table output.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "deprecated": _b(
                "deprecated indicates this version of the custom resource API is deprecated."
            ),
            "deprecationWarning": _s(
                "deprecationWarning overrides the default warning returned to API clients."
            ),
            "name": _s('name is the version name, e.g. "v1", "v2beta1", etc.', default=""),
            "schema": _ref(
                _APIEXT + "CustomResourceValidation",
                "schema describes the schema "
                "used for validation, pruning, and defaulting of this version of "
                "the custom resource.",
            ),
            "selectableFields": _opaque_list(
                "selectableFields specifies paths to fields that may be used as field selectors."
            ),
            "served": _b(
                "served is a flag enabling/disabling this version from being served via REST APIs"
            ),
            "storage": _b(
                "storage indicates this version should be used when persisting "
                "custom resources to storage."
            ),
            "subresources": _ref(
                _APIEXT + "CustomResourceSubresources",
                "subresources "
                "specify what subresources this version of the defined "
                "custom resource have.",
            ),
        },
        ["name", "served", "storage"],
    )
    d[_APIEXT + "CustomResourceValidation"] = _obj(
        "CustomResourceValidation is a list of validation methods for CustomResources.",
        {
            "openAPIV3Schema": _opaque(
                "openAPIV3Schema is the OpenAPI v3 schema to use for validation and pruning."
            )
        },
    )
    d[_APIEXT + "CustomResourceSubresources"] = _obj(
        "CustomResourceSubresources defines the status and scale subresources for CustomResources.",
        {
            "scale": _opaque(
                "scale indicates the custom resource should serve a `/scale` "
                "subresource that returns an `autoscaling/v1` Scale object."
            ),
            "status": _opaque(
                "status indicates the custom resource should serve a `/status` subresource."
            ),
        },
    )
    d[_APIEXT + "CustomResourceColumnDefinition"] = _obj(
        "CustomResourceColumnDefinition specifies a column for server side printing.",
        {
            "description": _s("description is a human readable description of this column."),
            "format": _s("format is an optional OpenAPI type definition for this column."),
            "jsonPath": _s(
                "jsonPath is a simple JSON path (i.e. with array notation) which is "
                "evaluated against each custom resource to produce the value for "
                "this column.",
                default="",
            ),
            "name": _s("name is a human readable name for the column.", default=""),
            "priority": _i32(
                "priority is an integer defining the relative importance of this "
                "column compared to others."
            ),
            "type": _s("type is an OpenAPI type definition for this column.", default=""),
        },
        ["name", "type", "jsonPath"],
    )
    d[_APIEXT + "CustomResourceDefinitionStatus"] = _obj(
        "CustomResourceDefinitionStatus indicates the state of the CustomResourceDefinition",
        {
            "acceptedNames": _ref(
                _APIEXT + "CustomResourceDefinitionNames",
                "acceptedNames are the names that are actually being used to serve discovery.",
            ),
            "conditions": _keyed(
                _APIEXT + "CustomResourceDefinitionCondition",
                "conditions indicate state for particular aspects of a CustomResourceDefinition",
                "type",
            ),
            "storedVersions": _strings(
                "storedVersions lists all versions of CustomResources that were ever persisted.",
                **{"x-kubernetes-list-type": "atomic"},
            ),
        },
    )
    d[_APIEXT + "CustomResourceDefinitionCondition"] = _obj(
        "CustomResourceDefinitionCondition contains details for the current condition of this pod.",
        {
            "lastTransitionTime": _ref(
                _META + "Time",
                "lastTransitionTime last time the "
                "condition transitioned from one status to another.",
            ),
            "message": _s(
                "message is a human-readable message indicating details about last transition."
            ),
            "reason": _s(
                "reason is a unique, one-word, CamelCase reason for the condition's "
                "last transition."
            ),
            "status": _s(
                "status is the status of the condition. Can be True, False, Unknown.", default=""
            ),
            "type": _s(
                "type is the type of the condition. Types include Established, "
                "NamesAccepted and Terminating.",
                default="",
            ),
        },
        ["type", "status"],
    )
    return d


_BUILTIN_KINDS: dict[tuple[str, str, str], str] = {
    ("", "v1", "Namespace"): _CORE + "Namespace",
    ("", "v1", "ConfigMap"): _CORE + "ConfigMap",
    ("", "v1", "Secret"): _CORE + "Secret",
    ("", "v1", "Service"): _CORE + "Service",
    ("", "v1", "ServiceAccount"): _CORE + "ServiceAccount",
    ("apps", "v1", "Deployment"): _APPS + "Deployment",
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"): (
        _APIEXT + "CustomResourceDefinition"
    ),
}


def _all_definitions() -> dict[str, dict[str, Any]]:
    defs = _meta_definitions()
    defs.update(_core_definitions())
    defs.update(_apps_definitions())
    defs.update(_apiextensions_definitions())
    for (group, version, kind), name in _BUILTIN_KINDS.items():
        defs[name + "List"] = _list_def(group, version, kind, name)
    return defs


#: Named OpenAPI v3 definitions (``io.k8s.…``) for meta types and built-in kinds.
DEFINITIONS: dict[str, dict[str, Any]] = _all_definitions()


def builtin_definition_name(group: str, version: str, kind: str) -> str | None:
    """The ``io.k8s.…`` definition name of a built-in kind, or None."""
    return _BUILTIN_KINDS.get((group, version, kind))
