"""Knative Serving's API group, labels and annotations (``pkg/apis/serving/register.go``).

Plain constants, no imports. The controllers put these labels on what they make
(a Revision carries its Configuration, generation and Service), knwalk selects
by them, and the webhook guards some of them.
"""

#: the API group of Services, Configurations, Revisions and Routes
GROUP = "serving.knative.dev"
#: what every key below (but the visibility label) starts with
GROUP_PREFIX = GROUP + "/"

#: on a Configuration, Route and Revision: the Service that owns them
SERVICE_LABEL = GROUP_PREFIX + "service"
SERVICE_UID_LABEL = GROUP_PREFIX + "serviceUID"
#: on a Revision: the Configuration that made it, and from which of its generations
CONFIGURATION_LABEL = GROUP_PREFIX + "configuration"
CONFIGURATION_UID_LABEL = GROUP_PREFIX + "configurationUID"
CONFIGURATION_GENERATION_LABEL = GROUP_PREFIX + "configurationGeneration"
#: on a Revision's Pods: the Revision
REVISION_LABEL = GROUP_PREFIX + "revision"
REVISION_UID_LABEL = GROUP_PREFIX + "revisionUID"
#: on a Route's placeholder Services: the Route
ROUTE_LABEL = GROUP_PREFIX + "route"
#: on a Revision: ``active`` while a Route sends it traffic, else ``reserve``
ROUTING_STATE_LABEL = GROUP_PREFIX + "routingState"
#: on a Revision: the Routes that send it traffic, and when its routing state changed
ROUTES_ANNOTATION = GROUP_PREFIX + "routes"
ROUTING_STATE_MODIFIED_ANNOTATION = GROUP_PREFIX + "routingStateModified"
#: set by the webhook: who created the object, and who last changed its spec
CREATOR_ANNOTATION = GROUP_PREFIX + "creator"
LAST_MODIFIER_ANNOTATION = GROUP_PREFIX + "lastModifier"
#: on a Revision's Deployment: a hash of what the revision reconciler asked for
DEPLOYMENT_HASH_LABEL = GROUP_PREFIX + "deployment-hash"
#: on an Ingress: the Route's namespace (beside ROUTE_LABEL)
ROUTE_NAMESPACE_LABEL = GROUP_PREFIX + "routeNamespace"
#: on a Revision: when a Route last stopped sending it traffic, and ``no-gc: "true"``
#: to keep it from the garbage collector; the revision reconciler does not hand these on
REVISION_LAST_PINNED_ANNOTATION = GROUP_PREFIX + "lastPinned"
REVISION_NO_GC_ANNOTATION = GROUP_PREFIX + "no-gc"

#: on a Service or Route: ``cluster-local`` keeps it off the external domain
VISIBILITY_LABEL = "networking.knative.dev/visibility"
CLUSTER_LOCAL = "cluster-local"

# knwalk's own annotations (not Knative's): what a knwalk command records on an object,
# and the sandbox-only switches a cluster running Knative ignores

#: on a Service: the state of ``knwalk rollout`` (JSON: steps done, gates, results), so
#: that ``knwalk rollout status`` reads it from any shell
ROLLOUT_ANNOTATION = "knwalk.dev/rollout"
#: on a Revision (or a Service's template, which its Revisions copy): a fault the sandbox's
#: gateway injects into requests routed to that Revision, as Istio's VirtualService
#: ``fault`` does (:mod:`kn_walk.sandbox.knative.revision_faults`); nothing else reads it
FAULT_ANNOTATION = "sandbox.knwalk.dev/fault"
#: on a system Deployment the sandbox shows: which part of the sandbox does its work
PLAYED_BY_ANNOTATION = "sandbox.knwalk.dev/played-by"
