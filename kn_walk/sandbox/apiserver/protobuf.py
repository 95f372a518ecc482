"""Kubernetes protobuf request bodies, decoded into the JSON dicts the API already handles.

kubectl's typed generators (``kubectl create namespace|configmap|secret|serviceaccount|
deployment|service|job|cronjob|role|clusterrole|rolebinding|clusterrolebinding|
poddisruptionbudget|ingress``, ``kubectl autoscale``) send ``application/vnd.kubernetes.protobuf``: the magic bytes
``k8s\\x00`` and a ``runtime.Unknown`` envelope whose ``raw`` field holds the object, encoded
with the field numbers of the ``generated.proto`` files in k8s.io/api and
k8s.io/apimachinery. This module is a small dependency-free wire-format decoder plus
schemas for the kinds the sandbox serves, and turns a body into the dict a JSON client
would have sent: unset fields are omitted the way Go's ``omitempty`` would, bytes become
base64 strings, ``Time`` becomes RFC 3339, ``IntOrString`` an int or a string, and embedded
structs that Go inlines in JSON are inlined here too. Unknown fields are skipped.

Only decoding: responses stay JSON, which every client accepts.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# Wire types.
VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
_WIRE_NAMES = {VARINT: "varint", I64: "64-bit", LEN: "length-delimited", I32: "32-bit"}
_MAX_FIELD = (1 << 29) - 1
_U64 = (1 << 64) - 1


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf message (answered 400)."""


class UnsupportedKind(ProtobufError):
    """Well-formed envelope, but a kind this decoder has no schema for (answered 415)."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f'no protobuf schema for kind "{kind}" in version "{api_version}"')
        self.api_version = api_version
        self.kind = kind


# --- wire format -------------------------------------------------------------------------


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """An unsigned varint at ``pos``: (value mod 2**64, position after it)."""
    result = 0
    for i in range(10):
        if pos >= len(buf):
            raise ProtobufError("unexpected end of data inside a varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << (7 * i)
        if b < 0x80:
            return result & _U64, pos
    raise ProtobufError("varint is longer than 10 bytes")


def _read_key(buf: bytes, pos: int) -> tuple[int, int, int]:
    key, pos = read_varint(buf, pos)
    num, wire = key >> 3, key & 7
    if num == 0 or num > _MAX_FIELD:
        raise ProtobufError(f"illegal field number {num} (wire type {wire})")
    return num, wire, pos


def _skip_group(buf: bytes, pos: int, start: int) -> int:
    """Skip a (deprecated) group whose start tag had field number ``start``."""
    stack = [start]
    while stack:
        if pos >= len(buf):
            raise ProtobufError("unexpected end of data inside a group")
        num, wire, pos = _read_key(buf, pos)
        if wire == SGROUP:
            stack.append(num)
        elif wire == EGROUP:
            if stack.pop() != num:
                raise ProtobufError(f"mismatched end of group for field {num}")
        else:
            _, pos = _read_value(buf, pos, wire)
    return pos


def _read_value(buf: bytes, pos: int, wire: int) -> tuple[int | bytes, int]:
    if wire == VARINT:
        return read_varint(buf, pos)
    if wire == LEN:
        length, pos = read_varint(buf, pos)
        if length > len(buf) - pos:
            raise ProtobufError(
                f"length {length} runs past the end of the data ({len(buf) - pos} bytes left)"
            )
        return buf[pos : pos + length], pos + length
    size = {I64: 8, I32: 4}.get(wire)
    if size is None:
        raise ProtobufError(f"illegal wire type {wire}")
    if pos + size > len(buf):
        raise ProtobufError(f"unexpected end of data inside a {size * 8}-bit value")
    return int.from_bytes(buf[pos : pos + size], "little"), pos + size


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field; groups are skipped."""
    pos = 0
    while pos < len(buf):
        num, wire, pos = _read_key(buf, pos)
        if wire == SGROUP:
            pos = _skip_group(buf, pos, num)
            continue
        if wire == EGROUP:
            raise ProtobufError(f"end of group for field {num} without a start")
        value, pos = _read_value(buf, pos, wire)
        yield num, wire, value


# --- schemas -----------------------------------------------------------------------------
#
# One block per message: its name, then one indented line per field,
# ``<number> <jsonName> <type>[*] [keep] [inline]`` with the numbers of generated.proto.
# ``*`` marks a repeated field, ``map<T>`` a map from string to T. ``keep`` keeps a zero
# value (Go pointer fields, and fields whose JSON tag has no omitempty); other scalar
# fields equal to "", 0 or false are omitted, as Go's JSON encoder would. ``inline`` merges
# an embedded struct into its parent, as its ``json:",inline"`` tag does. Message fields
# are emitted whenever present: Go's protobuf marshaller writes non-pointer structs always
# (and Go's JSON encoder writes them as ``{}``), pointer structs only when set.

_SCHEMA_TEXT = """
# k8s.io/apimachinery/pkg/runtime/generated.proto
TypeMeta
  1 apiVersion string
  2 kind string

# k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto
ObjectMeta
  1 name string
  2 generateName string
  3 namespace string
  4 selfLink string
  5 uid string
  6 resourceVersion string
  7 generation int64
  8 creationTimestamp Time
  9 deletionTimestamp Time
  10 deletionGracePeriodSeconds int64 keep
  11 labels map<string>
  12 annotations map<string>
  13 ownerReferences OwnerReference*
  14 finalizers string*
  17 managedFields ManagedFieldsEntry*
OwnerReference
  5 apiVersion string keep
  1 kind string keep
  3 name string keep
  4 uid string keep
  6 controller bool keep
  7 blockOwnerDeletion bool keep
ManagedFieldsEntry
  1 manager string
  2 operation string
  3 apiVersion string
  4 time Time
  6 fieldsType string
  7 fieldsV1 FieldsV1
  8 subresource string
LabelSelector
  1 matchLabels map<string>
  2 matchExpressions LabelSelectorRequirement*
LabelSelectorRequirement
  1 key string keep
  2 operator string keep
  3 values string*
Condition
  1 type string keep
  2 status string keep
  3 observedGeneration int64
  4 lastTransitionTime Time
  5 reason string keep
  6 message string keep
DeleteOptions
  1 gracePeriodSeconds int64 keep
  2 preconditions Preconditions
  3 orphanDependents bool keep
  4 propagationPolicy string keep
  5 dryRun string*
Preconditions
  1 uid string keep
  2 resourceVersion string keep

# k8s.io/api/core/v1/generated.proto
Namespace
  1 metadata ObjectMeta
  2 spec NamespaceSpec
  3 status NamespaceStatus
NamespaceSpec
  1 finalizers string*
NamespaceStatus
  1 phase string
  2 conditions NamespaceCondition*
NamespaceCondition
  1 type string keep
  2 status string keep
  4 lastTransitionTime Time
  5 reason string
  6 message string
ConfigMap
  1 metadata ObjectMeta
  4 immutable bool keep
  2 data map<string>
  3 binaryData map<bytes>
Secret
  1 metadata ObjectMeta
  5 immutable bool keep
  2 data map<bytes>
  4 stringData map<string>
  3 type string
ServiceAccount
  1 metadata ObjectMeta
  2 secrets ObjectReference*
  3 imagePullSecrets LocalObjectReference*
  4 automountServiceAccountToken bool keep
ObjectReference
  1 kind string
  2 namespace string
  3 name string
  4 uid string
  5 apiVersion string
  6 resourceVersion string
  7 fieldPath string
LocalObjectReference
  1 name string
Service
  1 metadata ObjectMeta
  2 spec ServiceSpec
  3 status ServiceStatus
ServiceSpec
  1 ports ServicePort*
  2 selector map<string>
  3 clusterIP string
  18 clusterIPs string*
  4 type string
  5 externalIPs string*
  7 sessionAffinity string
  8 loadBalancerIP string
  9 loadBalancerSourceRanges string*
  10 externalName string
  11 externalTrafficPolicy string
  12 healthCheckNodePort int32
  13 publishNotReadyAddresses bool
  14 sessionAffinityConfig SessionAffinityConfig
  19 ipFamilies string*
  17 ipFamilyPolicy string keep
  20 allocateLoadBalancerNodePorts bool keep
  21 loadBalancerClass string keep
  22 internalTrafficPolicy string keep
ServicePort
  1 name string
  2 protocol string
  6 appProtocol string keep
  3 port int32 keep
  4 targetPort IntOrString
  5 nodePort int32
SessionAffinityConfig
  1 clientIP ClientIPConfig
ClientIPConfig
  1 timeoutSeconds int32 keep
ServiceStatus
  1 loadBalancer LoadBalancerStatus
  2 conditions Condition*
LoadBalancerStatus
  1 ingress LoadBalancerIngress*
LoadBalancerIngress
  1 ip string
  2 hostname string
  4 ports PortStatus*
PortStatus
  1 port int32 keep
  2 protocol string keep
  3 error string keep
PodTemplateSpec
  1 metadata ObjectMeta
  2 spec PodSpec
PodSpec
  1 volumes Volume*
  20 initContainers Container*
  2 containers Container*
  3 restartPolicy string
  4 terminationGracePeriodSeconds int64 keep
  5 activeDeadlineSeconds int64 keep
  6 dnsPolicy string
  7 nodeSelector map<string>
  8 serviceAccountName string
  9 serviceAccount string
  21 automountServiceAccountToken bool keep
  10 nodeName string
  11 hostNetwork bool
  12 hostPID bool
  13 hostIPC bool
  27 shareProcessNamespace bool keep
  14 securityContext PodSecurityContext
  15 imagePullSecrets LocalObjectReference*
  16 hostname string
  17 subdomain string
  19 schedulerName string
  22 tolerations Toleration*
  23 hostAliases HostAlias*
  24 priorityClassName string
  25 priority int32 keep
  26 dnsConfig PodDNSConfig
  28 readinessGates PodReadinessGate*
  29 runtimeClassName string keep
  30 enableServiceLinks bool keep
  31 preemptionPolicy string keep
  32 overhead map<Quantity>
  35 setHostnameAsFQDN bool keep
Container
  1 name string keep
  2 image string
  3 command string*
  4 args string*
  5 workingDir string
  6 ports ContainerPort*
  19 envFrom EnvFromSource*
  7 env EnvVar*
  8 resources ResourceRequirements
  9 volumeMounts VolumeMount*
  21 volumeDevices VolumeDevice*
  10 livenessProbe Probe
  11 readinessProbe Probe
  22 startupProbe Probe
  12 lifecycle Lifecycle
  13 terminationMessagePath string
  20 terminationMessagePolicy string
  14 imagePullPolicy string
  15 securityContext SecurityContext
  16 stdin bool
  17 stdinOnce bool
  18 tty bool
ContainerPort
  1 name string
  2 hostPort int32
  3 containerPort int32 keep
  4 protocol string
  5 hostIP string
EnvFromSource
  1 prefix string
  2 configMapRef ConfigMapEnvSource
  3 secretRef SecretEnvSource
ConfigMapEnvSource
  1 localObjectReference LocalObjectReference inline
  2 optional bool keep
SecretEnvSource
  1 localObjectReference LocalObjectReference inline
  2 optional bool keep
EnvVar
  1 name string keep
  2 value string
  3 valueFrom EnvVarSource
EnvVarSource
  1 fieldRef ObjectFieldSelector
  2 resourceFieldRef ResourceFieldSelector
  3 configMapKeyRef ConfigMapKeySelector
  4 secretKeyRef SecretKeySelector
ObjectFieldSelector
  1 apiVersion string
  2 fieldPath string keep
ResourceFieldSelector
  1 containerName string
  2 resource string keep
  3 divisor Quantity
ConfigMapKeySelector
  1 localObjectReference LocalObjectReference inline
  2 key string keep
  3 optional bool keep
SecretKeySelector
  1 localObjectReference LocalObjectReference inline
  2 key string keep
  3 optional bool keep
ResourceRequirements
  1 limits map<Quantity>
  2 requests map<Quantity>
VolumeMount
  1 name string keep
  2 readOnly bool
  3 mountPath string keep
  4 subPath string
  5 mountPropagation string keep
  6 subPathExpr string
VolumeDevice
  1 name string keep
  2 devicePath string keep
Probe
  1 handler Handler inline
  2 initialDelaySeconds int32
  3 timeoutSeconds int32
  4 periodSeconds int32
  5 successThreshold int32
  6 failureThreshold int32
  7 terminationGracePeriodSeconds int64 keep
Handler
  1 exec ExecAction
  2 httpGet HTTPGetAction
  3 tcpSocket TCPSocketAction
ExecAction
  1 command string*
HTTPGetAction
  1 path string
  2 port IntOrString
  3 host string
  4 scheme string
  5 httpHeaders HTTPHeader*
HTTPHeader
  1 name string keep
  2 value string keep
TCPSocketAction
  1 port IntOrString
  2 host string
Lifecycle
  1 postStart Handler
  2 preStop Handler
SecurityContext
  1 capabilities Capabilities
  2 privileged bool keep
  3 seLinuxOptions SELinuxOptions
  10 windowsOptions WindowsSecurityContextOptions
  4 runAsUser int64 keep
  8 runAsGroup int64 keep
  5 runAsNonRoot bool keep
  6 readOnlyRootFilesystem bool keep
  7 allowPrivilegeEscalation bool keep
  9 procMount string keep
  11 seccompProfile SeccompProfile
Capabilities
  1 add string*
  2 drop string*
SELinuxOptions
  1 user string
  2 role string
  3 type string
  4 level string
WindowsSecurityContextOptions
  1 gmsaCredentialSpecName string keep
  2 gmsaCredentialSpec string keep
  3 runAsUserName string keep
SeccompProfile
  1 type string keep
  2 localhostProfile string keep
PodSecurityContext
  1 seLinuxOptions SELinuxOptions
  8 windowsOptions WindowsSecurityContextOptions
  2 runAsUser int64 keep
  6 runAsGroup int64 keep
  3 runAsNonRoot bool keep
  4 supplementalGroups int64*
  5 fsGroup int64 keep
  7 sysctls Sysctl*
  9 fsGroupChangePolicy string keep
  10 seccompProfile SeccompProfile
Sysctl
  1 name string keep
  2 value string keep
Toleration
  1 key string
  2 operator string
  3 value string
  4 effect string
  5 tolerationSeconds int64 keep
HostAlias
  1 ip string
  2 hostnames string*
PodDNSConfig
  1 nameservers string*
  2 searches string*
  3 options PodDNSConfigOption*
PodDNSConfigOption
  1 name string
  2 value string keep
PodReadinessGate
  1 conditionType string keep
Volume
  1 name string keep
  2 volumeSource VolumeSource inline
VolumeSource
  1 hostPath HostPathVolumeSource
  2 emptyDir EmptyDirVolumeSource
  6 secret SecretVolumeSource
  10 persistentVolumeClaim PersistentVolumeClaimVolumeSource
  16 downwardAPI DownwardAPIVolumeSource
  19 configMap ConfigMapVolumeSource
  26 projected ProjectedVolumeSource
HostPathVolumeSource
  1 path string keep
  2 type string keep
EmptyDirVolumeSource
  1 medium string
  2 sizeLimit Quantity
SecretVolumeSource
  1 secretName string
  2 items KeyToPath*
  3 defaultMode int32 keep
  4 optional bool keep
KeyToPath
  1 key string keep
  2 path string keep
  3 mode int32 keep
PersistentVolumeClaimVolumeSource
  1 claimName string keep
  2 readOnly bool
DownwardAPIVolumeSource
  1 items DownwardAPIVolumeFile*
  2 defaultMode int32 keep
DownwardAPIVolumeFile
  1 path string keep
  2 fieldRef ObjectFieldSelector
  3 resourceFieldRef ResourceFieldSelector
  4 mode int32 keep
ConfigMapVolumeSource
  1 localObjectReference LocalObjectReference inline
  2 items KeyToPath*
  3 defaultMode int32 keep
  4 optional bool keep
ProjectedVolumeSource
  1 sources VolumeProjection*
  2 defaultMode int32 keep
VolumeProjection
  1 secret SecretProjection
  2 downwardAPI DownwardAPIProjection
  3 configMap ConfigMapProjection
  4 serviceAccountToken ServiceAccountTokenProjection
SecretProjection
  1 localObjectReference LocalObjectReference inline
  2 items KeyToPath*
  4 optional bool keep
ConfigMapProjection
  1 localObjectReference LocalObjectReference inline
  2 items KeyToPath*
  4 optional bool keep
DownwardAPIProjection
  1 items DownwardAPIVolumeFile*
ServiceAccountTokenProjection
  1 audience string
  2 expirationSeconds int64 keep
  3 path string keep

# k8s.io/api/authorization/v1/generated.proto (kubectl auth can-i sends these)
SelfSubjectAccessReview
  1 metadata ObjectMeta
  2 spec SelfSubjectAccessReviewSpec
SelfSubjectAccessReviewSpec
  1 resourceAttributes ResourceAttributes
  2 nonResourceAttributes NonResourceAttributes
ResourceAttributes
  1 namespace string
  2 verb string
  3 group string
  4 version string
  5 resource string
  6 subresource string
  7 name string
NonResourceAttributes
  1 path string
  2 verb string
SelfSubjectRulesReview
  1 metadata ObjectMeta
  2 spec SelfSubjectRulesReviewSpec
SelfSubjectRulesReviewSpec
  1 namespace string

# k8s.io/api/authentication/v1/generated.proto (kubectl auth whoami)
SelfSubjectReview
  1 metadata ObjectMeta

# k8s.io/api/apps/v1/generated.proto
Deployment
  1 metadata ObjectMeta
  2 spec DeploymentSpec
  3 status DeploymentStatus
DeploymentSpec
  1 replicas int32 keep
  2 selector LabelSelector
  3 template PodTemplateSpec
  4 strategy DeploymentStrategy
  5 minReadySeconds int32
  6 revisionHistoryLimit int32 keep
  7 paused bool
  9 progressDeadlineSeconds int32 keep
DeploymentStrategy
  1 type string
  2 rollingUpdate RollingUpdateDeployment
RollingUpdateDeployment
  1 maxUnavailable IntOrString
  2 maxSurge IntOrString
DeploymentStatus
  1 observedGeneration int64
  2 replicas int32
  3 updatedReplicas int32
  7 readyReplicas int32
  4 availableReplicas int32
  5 unavailableReplicas int32
  6 conditions DeploymentCondition*
  8 collisionCount int32 keep
DeploymentCondition
  1 type string keep
  2 status string keep
  6 lastUpdateTime Time
  7 lastTransitionTime Time
  4 reason string
  5 message string

# k8s.io/api/core/v1/generated.proto (an Ingress backend's resource)
TypedLocalObjectReference
  1 apiGroup string keep
  2 kind string keep
  3 name string keep

# k8s.io/api/batch/v1/generated.proto (kubectl create job|cronjob)
Job
  1 metadata ObjectMeta
  2 spec JobSpec
  3 status JobStatus
JobStatus
  1 conditions JobCondition*
  2 startTime Time
  3 completionTime Time
  4 active int32
  5 succeeded int32
  6 failed int32
  11 terminating int32 keep
  7 completedIndexes string
  10 failedIndexes string keep
  8 uncountedTerminatedPods UncountedTerminatedPods
  9 ready int32 keep
JobCondition
  1 type string keep
  2 status string keep
  3 lastProbeTime Time
  4 lastTransitionTime Time
  5 reason string
  6 message string
UncountedTerminatedPods
  1 succeeded string*
  2 failed string*
JobSpec
  1 parallelism int32 keep
  2 completions int32 keep
  3 activeDeadlineSeconds int64 keep
  11 podFailurePolicy PodFailurePolicy
  16 successPolicy SuccessPolicy
  7 backoffLimit int32 keep
  12 backoffLimitPerIndex int32 keep
  13 maxFailedIndexes int32 keep
  4 selector LabelSelector
  5 manualSelector bool keep
  6 template PodTemplateSpec
  8 ttlSecondsAfterFinished int32 keep
  9 completionMode string keep
  10 suspend bool keep
  14 podReplacementPolicy string keep
  15 managedBy string keep
PodFailurePolicy
  1 rules PodFailurePolicyRule*
PodFailurePolicyRule
  1 action string keep
  2 onExitCodes PodFailurePolicyOnExitCodesRequirement
  3 onPodConditions PodFailurePolicyOnPodConditionsPattern*
PodFailurePolicyOnExitCodesRequirement
  1 containerName string keep
  2 operator string keep
  3 values int32*
PodFailurePolicyOnPodConditionsPattern
  1 type string keep
  2 status string keep
SuccessPolicy
  1 rules SuccessPolicyRule*
SuccessPolicyRule
  1 succeededIndexes string keep
  2 succeededCount int32 keep
CronJob
  1 metadata ObjectMeta
  2 spec CronJobSpec
  3 status CronJobStatus
CronJobStatus
  1 active ObjectReference*
  4 lastScheduleTime Time
  5 lastSuccessfulTime Time
CronJobSpec
  1 schedule string keep
  8 timeZone string keep
  2 startingDeadlineSeconds int64 keep
  3 concurrencyPolicy string
  4 suspend bool keep
  5 jobTemplate JobTemplateSpec
  6 successfulJobsHistoryLimit int32 keep
  7 failedJobsHistoryLimit int32 keep
JobTemplateSpec
  1 metadata ObjectMeta
  2 spec JobSpec

# k8s.io/api/rbac/v1/generated.proto (kubectl create role|clusterrole|rolebinding|...)
Role
  1 metadata ObjectMeta
  2 rules PolicyRule*
ClusterRole
  1 metadata ObjectMeta
  2 rules PolicyRule*
  3 aggregationRule AggregationRule
AggregationRule
  1 clusterRoleSelectors LabelSelector*
PolicyRule
  1 verbs string*
  2 apiGroups string*
  3 resources string*
  4 resourceNames string*
  5 nonResourceURLs string*
RoleBinding
  1 metadata ObjectMeta
  2 subjects Subject*
  3 roleRef RoleRef
ClusterRoleBinding
  1 metadata ObjectMeta
  2 subjects Subject*
  3 roleRef RoleRef
Subject
  1 kind string keep
  2 apiGroup string
  3 name string keep
  4 namespace string
RoleRef
  1 apiGroup string keep
  2 kind string keep
  3 name string keep

# k8s.io/api/policy/v1/generated.proto (kubectl create poddisruptionbudget)
PodDisruptionBudget
  1 metadata ObjectMeta
  2 spec PodDisruptionBudgetSpec
  3 status PodDisruptionBudgetStatus
PodDisruptionBudgetStatus
  1 observedGeneration int64
  2 disruptedPods map<Time>
  3 disruptionsAllowed int32 keep
  4 currentHealthy int32 keep
  5 desiredHealthy int32 keep
  6 expectedPods int32 keep
  7 conditions Condition*
PodDisruptionBudgetSpec
  1 minAvailable IntOrString
  2 selector LabelSelector
  3 maxUnavailable IntOrString
  4 unhealthyPodEvictionPolicy string keep

# k8s.io/api/networking/v1/generated.proto (kubectl create ingress)
Ingress
  1 metadata ObjectMeta
  2 spec IngressSpec
  3 status IngressStatus
IngressStatus
  1 loadBalancer IngressLoadBalancerStatus
IngressLoadBalancerStatus
  1 ingress IngressLoadBalancerIngress*
IngressLoadBalancerIngress
  1 ip string
  2 hostname string
  4 ports IngressPortStatus*
IngressPortStatus
  1 port int32 keep
  2 protocol string keep
  3 error string keep
IngressSpec
  4 ingressClassName string keep
  1 defaultBackend IngressBackend
  2 tls IngressTLS*
  3 rules IngressRule*
IngressBackend
  4 service IngressServiceBackend
  3 resource TypedLocalObjectReference
IngressServiceBackend
  1 name string keep
  2 port ServiceBackendPort
ServiceBackendPort
  1 name string
  2 number int32
IngressTLS
  1 hosts string*
  2 secretName string
IngressRule
  1 host string
  2 ingressRuleValue IngressRuleValue inline
IngressRuleValue
  1 http HTTPIngressRuleValue
HTTPIngressRuleValue
  1 paths HTTPIngressPath*
HTTPIngressPath
  1 path string
  3 pathType string keep
  2 backend IngressBackend

# k8s.io/api/autoscaling/v2/generated.proto (kubectl autoscale)
HorizontalPodAutoscaler
  1 metadata ObjectMeta
  2 spec HorizontalPodAutoscalerSpec
  3 status HorizontalPodAutoscalerStatus
HorizontalPodAutoscalerStatus
  1 observedGeneration int64 keep
  2 lastScaleTime Time
  3 currentReplicas int32
  4 desiredReplicas int32 keep
  5 currentMetrics MetricStatus*
  6 conditions HorizontalPodAutoscalerCondition*
HorizontalPodAutoscalerCondition
  1 type string keep
  2 status string keep
  3 lastTransitionTime Time
  4 reason string
  5 message string
MetricStatus
  1 type string keep
  2 object ObjectMetricStatus
  3 pods PodsMetricStatus
  4 resource ResourceMetricStatus
  7 containerResource ContainerResourceMetricStatus
  5 external ExternalMetricStatus
ObjectMetricStatus
  1 metric MetricIdentifier
  2 current MetricValueStatus
  3 describedObject CrossVersionObjectReference
PodsMetricStatus
  1 metric MetricIdentifier
  2 current MetricValueStatus
ResourceMetricStatus
  1 name string keep
  2 current MetricValueStatus
ContainerResourceMetricStatus
  1 name string keep
  2 current MetricValueStatus
  3 container string keep
ExternalMetricStatus
  1 metric MetricIdentifier
  2 current MetricValueStatus
MetricValueStatus
  1 value Quantity
  2 averageValue Quantity
  3 averageUtilization int32 keep
HorizontalPodAutoscalerSpec
  1 scaleTargetRef CrossVersionObjectReference
  2 minReplicas int32 keep
  3 maxReplicas int32 keep
  4 metrics MetricSpec*
  5 behavior HorizontalPodAutoscalerBehavior
CrossVersionObjectReference
  1 kind string keep
  2 name string keep
  3 apiVersion string
MetricSpec
  1 type string keep
  2 object ObjectMetricSource
  3 pods PodsMetricSource
  4 resource ResourceMetricSource
  7 containerResource ContainerResourceMetricSource
  5 external ExternalMetricSource
ObjectMetricSource
  1 describedObject CrossVersionObjectReference
  2 target MetricTarget
  3 metric MetricIdentifier
PodsMetricSource
  1 metric MetricIdentifier
  2 target MetricTarget
ResourceMetricSource
  1 name string keep
  2 target MetricTarget
ContainerResourceMetricSource
  1 name string keep
  2 target MetricTarget
  3 container string keep
ExternalMetricSource
  1 metric MetricIdentifier
  2 target MetricTarget
MetricIdentifier
  1 name string keep
  2 selector LabelSelector
MetricTarget
  1 type string keep
  2 value Quantity
  3 averageValue Quantity
  4 averageUtilization int32 keep
HorizontalPodAutoscalerBehavior
  1 scaleUp HPAScalingRules
  2 scaleDown HPAScalingRules
HPAScalingRules
  3 stabilizationWindowSeconds int32 keep
  1 selectPolicy string keep
  2 policies HPAScalingPolicy*
  4 tolerance Quantity
HPAScalingPolicy
  1 type string keep
  2 value int32 keep
  3 periodSeconds int32 keep
"""

SCALARS = frozenset({"string", "bytes", "bool", "int32", "int64"})


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # a scalar, a message name, or the map's value type when ``is_map``
    repeated: bool = False
    is_map: bool = False
    keep: bool = False
    inline: bool = False


def parse_schema(text: str) -> dict[str, dict[int, Field]]:
    """The message table from the compact schema text above."""
    schema: dict[str, dict[int, Field]] = {}
    current: dict[int, Field] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line[0].isspace():
            current = schema.setdefault(line.strip(), {})
            continue
        if current is None:
            raise ValueError(f"field outside a message: {raw!r}")
        num, name, typ, *flags = line.split()
        unknown = set(flags) - {"keep", "inline"}
        if unknown:
            raise ValueError(f"unknown flags {sorted(unknown)} in {raw!r}")
        repeated = typ.endswith("*")
        typ = typ.rstrip("*")
        is_map = typ.startswith("map<") and typ.endswith(">")
        if is_map:
            typ = typ[4:-1]
        current[int(num)] = Field(name, typ, repeated, is_map, "keep" in flags, "inline" in flags)
    return schema


# --- special messages (custom JSON forms) ------------------------------------------------

# time.Time{}.Unix(): Go's zero time, which marshals to JSON null.
_GO_ZERO_SECONDS = -62135596800
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _int64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def _scalar_fields(buf: bytes, message: str, spec: dict[int, str]) -> dict[int, Any]:
    """Decode a tiny message of scalars given as {field number: type}."""
    out: dict[int, Any] = {}
    for num, wire, value in iter_fields(buf):
        typ = spec.get(num)
        if typ is not None:
            out[num] = _scalar(typ, wire, value, f"{message} field {num}")
    return out


def _time(buf: bytes) -> str | None:
    """metav1.Time {seconds=1, nanos=2}: RFC 3339 in UTC, whole seconds (as kube stores it)."""
    if not buf:
        return None
    seconds = _scalar_fields(buf, "Time", {1: "int64", 2: "int32"}).get(1, 0)
    if seconds == _GO_ZERO_SECONDS:
        return None
    try:
        t = _EPOCH + timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ProtobufError(f"time {seconds} seconds from the epoch is out of range") from exc
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


def _int_or_string(buf: bytes) -> int | str:
    """intstr.IntOrString {type=1, intVal=2, strVal=3}."""
    f = _scalar_fields(buf, "IntOrString", {1: "int64", 2: "int32", 3: "string"})
    kind = f.get(1, 0)
    if kind == 0:
        return int(f.get(2, 0))
    if kind == 1:
        return str(f.get(3, ""))
    raise ProtobufError(f"IntOrString has an invalid type {kind}")


def _quantity(buf: bytes) -> str:
    """resource.Quantity {string=1}; an unset quantity is zero."""
    return str(_scalar_fields(buf, "Quantity", {1: "string"}).get(1, "")) or "0"


def _fields_v1(buf: bytes) -> Any:
    """metav1.FieldsV1 {Raw=1}: the raw JSON of a managed field set."""
    raw = b""
    for num, wire, value in iter_fields(buf):
        if num == 1:
            if not isinstance(value, bytes) or wire != LEN:
                raise _wrong_wire(wire, "FieldsV1.Raw")
            raw = value
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ProtobufError(f"fieldsV1 is not valid JSON: {exc}") from exc


SPECIAL: dict[str, Callable[[bytes], Any]] = {
    "Time": _time,
    "IntOrString": _int_or_string,
    "Quantity": _quantity,
    "FieldsV1": _fields_v1,
}

SCHEMA = parse_schema(_SCHEMA_TEXT)


def _check_schema() -> None:
    for msg, fields in SCHEMA.items():
        for f in fields.values():
            if f.type not in SCALARS and f.type not in SCHEMA and f.type not in SPECIAL:
                raise ValueError(f"{msg}.{f.name}: unknown type {f.type}")
            if f.inline and (f.type not in SCHEMA or f.repeated or f.is_map):
                raise ValueError(f"{msg}.{f.name}: only a single message can be inlined")


_check_schema()

# (apiVersion, kind) -> message; DeleteOptions is accepted in any group version.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "ClusterRoleBinding",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "HorizontalPodAutoscaler",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
}
ANY_VERSION_KINDS = frozenset({"DeleteOptions"})


# --- decoding ----------------------------------------------------------------------------


def _wrong_wire(wire: int, field: str) -> ProtobufError:
    return ProtobufError(f"wrong wire type {wire} for field {field}")


def _scalar(typ: str, wire: int, value: int | bytes, field: str) -> Any:
    if typ in ("string", "bytes"):
        if not isinstance(value, bytes) or wire != LEN:
            raise _wrong_wire(wire, field)
        if typ == "bytes":
            return base64.b64encode(value).decode("ascii")
        # Go keeps invalid UTF-8 in strings; its JSON encoder writes U+FFFD for it.
        return value.decode("utf-8", errors="replace")
    if not isinstance(value, int) or wire != VARINT:
        raise _wrong_wire(wire, field)
    if typ == "bool":
        return value != 0
    if typ == "int32":
        return _int32(value)
    return _int64(value)


def _packed(typ: str, buf: bytes, field: str) -> list[Any]:
    out: list[Any] = []
    pos = 0
    while pos < len(buf):
        value, pos = read_varint(buf, pos)
        out.append(_scalar(typ, VARINT, value, field))
    return out


def _value(typ: str, wire: int, value: int | bytes, field: str) -> Any:
    if typ in SCALARS:
        return _scalar(typ, wire, value, field)
    if not isinstance(value, bytes) or wire != LEN:
        raise _wrong_wire(wire, field)
    special = SPECIAL.get(typ)
    if special is not None:
        return special(value)
    return decode_message(value, typ)


def _map_entry(buf: bytes, typ: str, field: str) -> tuple[str, Any]:
    key: str = ""
    value: Any = _zero(typ) if typ in SCALARS else _value(typ, LEN, b"", field)
    for num, wire, v in iter_fields(buf):
        if num == 1:
            key = _scalar("string", wire, v, f"{field}.key")
        elif num == 2:
            value = _value(typ, wire, v, f"{field}[{key!r}]")
    return key, value


def _zero(typ: str) -> Any:
    return {"string": "", "bytes": "", "bool": False}.get(typ, 0)


def decode_message(buf: bytes, message: str) -> dict[str, Any]:
    """One message of the schema as the dict Go's JSON encoder would write for it."""
    fields = SCHEMA[message]
    out: dict[str, Any] = {}
    for num, wire, value in iter_fields(buf):
        f = fields.get(num)
        if f is None:
            continue  # a field this schema does not model
        label = f"{message}.{f.name}"
        if f.is_map:
            if not isinstance(value, bytes) or wire != LEN:
                raise _wrong_wire(wire, label)
            k, v = _map_entry(value, f.type, label)
            out.setdefault(f.name, {})[k] = v
        elif f.repeated:
            items = out.setdefault(f.name, [])
            if f.type in SCALARS and f.type not in ("string", "bytes") and wire == LEN:
                assert isinstance(value, bytes)
                items.extend(_packed(f.type, value, label))
            else:
                items.append(_value(f.type, wire, value, label))
        elif f.inline:
            out.update(_value(f.type, wire, value, label))
        else:
            v = _value(f.type, wire, value, label)
            if v is None or (f.type in SCALARS and not f.keep and v in ("", 0, False)):
                out.pop(f.name, None)
            else:
                out[f.name] = v
    return out


def _envelope(buf: bytes) -> tuple[str, str, bytes]:
    """runtime.Unknown {typeMeta=1, raw=2, contentEncoding=3, contentType=4}."""
    api_version = kind = encoding = ctype = ""
    raw = b""
    for num, wire, value in iter_fields(buf):
        if num == 1:
            if not isinstance(value, bytes) or wire != LEN:
                raise _wrong_wire(wire, "Unknown.typeMeta")
            meta = decode_message(value, "TypeMeta")
            api_version = meta.get("apiVersion", "")
            kind = meta.get("kind", "")
        elif num == 2:
            if not isinstance(value, bytes) or wire != LEN:
                raise _wrong_wire(wire, "Unknown.raw")
            raw = value
        elif num == 3:
            encoding = _scalar("string", wire, value, "Unknown.contentEncoding")
        elif num == 4:
            ctype = _scalar("string", wire, value, "Unknown.contentType")
    if encoding:
        raise ProtobufError(f"unsupported content encoding {encoding!r}")
    if ctype and ctype != CONTENT_TYPE:
        raise ProtobufError(f"unsupported content type {ctype!r} inside the envelope")
    if not kind:
        raise ProtobufError("Object 'Kind' is missing in the protobuf envelope")
    if not api_version:
        raise ProtobufError("Object 'apiVersion' is missing in the protobuf envelope")
    return api_version, kind, raw


def decode(data: bytes) -> dict[str, Any]:
    """A ``application/vnd.kubernetes.protobuf`` body as the equivalent JSON object.

    Raises :class:`UnsupportedKind` for a kind without a schema and
    :class:`ProtobufError` for anything malformed; nothing else.
    """
    if not data.startswith(MAGIC):
        raise ProtobufError(
            "the request body does not start with the Kubernetes protobuf prefix 'k8s\\x00'"
        )
    try:
        api_version, kind, raw = _envelope(data[len(MAGIC) :])
    except ProtobufError as exc:
        raise ProtobufError(f"the request body is not a valid Kubernetes protobuf: {exc}") from exc
    message = kind if kind in ANY_VERSION_KINDS else KINDS.get((api_version, kind))
    if message is None:
        raise UnsupportedKind(api_version, kind)
    try:
        body = decode_message(raw, message)
    except ProtobufError as exc:
        version = api_version.rpartition("/")[2]
        raise ProtobufError(
            f'{kind} in version "{version}" cannot be handled as a {kind}: {exc}'
        ) from exc
    return {"kind": kind, "apiVersion": api_version, **body}
