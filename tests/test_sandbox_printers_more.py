"""kube-apiserver's printers for the other built-in kinds the sandbox serves (issue 13).

Jobs, CronJobs, HorizontalPodAutoscalers, Ingresses, PersistentVolumeClaims, StatefulSets, DaemonSets,
NetworkPolicies, Leases, RoleBindings, ClusterRoleBindings and webhook configurations
were printed NAME / CREATED AT; a cluster prints each kind's own columns (printers.go).
The unit tests check the cells; the kubectl test makes each kind with kubectl's own
generators where it has one and reads the columns kubectl prints.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.conftest import Sandbox
from tests.test_kubectl import Kubectl, table
from tests.test_sandbox_printers import NOW, cells, meta, needs_kubectl

TEMPLATE = {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def _ago(minutes: int) -> str:
    return (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_job_cells() -> None:
    job: dict[str, Any] = {"metadata": meta("j"), "spec": {"template": TEMPLATE}, "status": {}}
    assert cells("batch", "v1", "jobs", job) == [
        "j",
        "Running",
        "0/1",
        "",
        "5m",
        "c",
        "busybox",
        "<none>",
    ]
    job["spec"]["parallelism"] = 3
    job["status"] = {"startTime": _ago(2)}
    assert cells("batch", "v1", "jobs", job)[1:4] == ["Running", "0/1 of 3", "2m"]
    job["spec"]["completions"] = 2
    job["status"] = {
        "succeeded": 2,
        "startTime": _ago(4),
        "completionTime": _ago(3),
        "conditions": [{"type": "Complete", "status": "True"}],
    }
    assert cells("batch", "v1", "jobs", job)[1:4] == ["Complete", "2/2", "60s"]
    job["status"]["conditions"] = [{"type": "Suspended", "status": "True"}]
    assert cells("batch", "v1", "jobs", job)[1] == "Suspended"


def test_cron_job_cells() -> None:
    cj = {
        "metadata": meta("cj"),
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": TEMPLATE}}},
        "status": {},
    }
    assert cells("batch", "v1", "cronjobs", cj) == [
        "cj",
        "*/5 * * * *",
        "<none>",
        "<unset>",
        0,
        "<none>",
        "5m",
        "c",
        "busybox",
        "<none>",
    ]
    cj["spec"] |= {"suspend": False, "timeZone": "Etc/UTC"}
    cj["status"] = {"active": [{"name": "a"}], "lastScheduleTime": _ago(1)}
    assert cells("batch", "v1", "cronjobs", cj)[2:6] == ["Etc/UTC", "False", 1, "60s"]


def test_ingress_cells() -> None:
    ing: dict[str, Any] = {"metadata": meta("i"), "spec": {}, "status": {}}
    assert cells("networking.k8s.io", "v1", "ingresses", ing) == [
        "i",
        "<none>",
        "*",
        "",
        "80",
        "5m",
    ]
    ing["spec"] = {
        "ingressClassName": "istio",
        "rules": [{"host": f"h{i}.example.com"} for i in range(5)],
        "tls": [{"hosts": ["h0.example.com"]}],
    }
    ing["status"] = {
        "loadBalancer": {"ingress": [{"ip": "10.0.0.2"}, {"hostname": "lb.example.com"}]}
    }
    assert cells("networking.k8s.io", "v1", "ingresses", ing)[1:5] == [
        "istio",
        "h0.example.com,h1.example.com,h2.example.com + 2 more...",
        "10.0.0.2,lb.e...",
        "80, 443",
    ]


def test_pvc_statefulset_daemonset_cells() -> None:
    pvc = {
        "metadata": meta("data"),
        "spec": {"volumeName": "pv1", "storageClassName": "fast"},
        "status": {
            "phase": "Bound",
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "capacity": {"storage": "1Gi"},
        },
    }
    assert cells("", "v1", "persistentvolumeclaims", pvc) == [
        "data",
        "Bound",
        "pv1",
        "1Gi",
        "RWO,RWX",
        "fast",
        "<unset>",
        "5m",
        "<unset>",
    ]
    sts = {
        "metadata": meta("db"),
        "spec": {"replicas": 3, "template": TEMPLATE},
        "status": {"readyReplicas": 1},
    }
    assert cells("apps", "v1", "statefulsets", sts) == ["db", "1/3", "5m", "c", "busybox"]
    ds = {
        "metadata": meta("agent"),
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"spec": {**TEMPLATE["spec"], "nodeSelector": {"disk": "ssd"}}},
        },
        "status": {"desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberReady": 1},
    }
    assert cells("apps", "v1", "daemonsets", ds) == [
        "agent",
        1,
        1,
        1,
        0,
        0,
        "disk=ssd",
        "5m",
        "c",
        "busybox",
        "app=agent",
    ]


def test_policy_lease_binding_webhook_cells() -> None:
    np = {"metadata": meta("deny"), "spec": {"podSelector": {}}}
    assert cells("networking.k8s.io", "v1", "networkpolicies", np) == ["deny", "<none>", "5m"]
    lease = {"metadata": meta("l"), "spec": {"holderIdentity": "me"}}
    assert cells("coordination.k8s.io", "v1", "leases", lease) == ["l", "me", "5m"]
    rb = {
        "metadata": meta("rb"),
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "ann"},
            {"kind": "User", "name": "bob"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "robot", "namespace": "ci"},
        ],
    }
    assert cells("rbac.authorization.k8s.io", "v1", "rolebindings", rb) == [
        "rb",
        "ClusterRole/view",
        "5m",
        "ann, bob",
        "devs",
        "ci/robot",
    ]
    hooks = {"metadata": meta("w"), "webhooks": [{"name": "a"}, {"name": "b"}]}
    assert cells(
        "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", hooks
    ) == [
        "w",
        2,
        "5m",
    ]


def test_horizontal_pod_autoscaler_cells() -> None:
    hpa: dict[str, Any] = {
        "metadata": meta("web"),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5},
        "status": {},
    }
    hpas = ("autoscaling", "v2", "horizontalpodautoscalers")
    assert cells(*hpas, hpa) == ["web", "Deployment/web", "<none>", "<unset>", 5, 0, "5m"]
    cpu = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}
    mem = {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}
    pods = {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}
    hpa["spec"] |= {
        "minReplicas": 2,
        "metrics": [
            {"type": "Resource", "resource": cpu},
            {"type": "Resource", "resource": mem},
            {"type": "Pods", "pods": pods},
        ],
    }
    assert cells(*hpas, hpa)[2:4] == [
        "cpu: <unknown>/70%, memory: <unknown>/100Mi + 1 more...",
        "2",
    ]
    hpa["status"] = {
        "currentReplicas": 3,
        "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 41}}}
        ],
    }
    assert cells(*hpas, hpa)[2] == "cpu: 41%/70%, memory: <unknown>/100Mi + 1 more..."
    assert cells(*hpas, hpa)[5] == 3


@needs_kubectl
def test_kubectl_get_prints_each_kinds_columns(
    sandbox: Sandbox, api_client: Any, tmp_path: Path
) -> None:
    ns = "pm-" + uuid.uuid4().hex[:8]
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": ns}})
    env = sandbox.env()
    env["KUBECACHEDIR"] = str(tmp_path / "cache")
    k = Kubectl(env, ns, tmp_path)
    k.ok("create", "job", "once", "--image=busybox")
    k.ok("create", "cronjob", "often", "--image=busybox", "--schedule=*/5 * * * *")
    k.ok("create", "ingress", "web", "--class=istio", "--rule=web.example.com/=web:80")
    k.ok("create", "rolebinding", "rb", "--clusterrole=view", "--user=ann")
    k.ok("create", "deployment", "web", "--image=nginx")
    k.ok("autoscale", "deployment", "web", "--max=4", "--cpu-percent=60")
    expected = {
        "jobs": ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        "cronjobs": ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"],
        "ingresses": ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        "rolebindings": ["NAME", "ROLE", "AGE"],
        "hpa": ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
    }
    for kind, columns in expected.items():
        [(cols, rows)] = table(k.ok("get", kind))
        assert cols == columns, kind
        assert len(rows) == 1, kind
    [(_, [job])] = table(k.ok("get", "jobs"))
    assert (job["STATUS"], job["COMPLETIONS"]) == ("Running", "0/1")
    [(_, [ing])] = table(k.ok("get", "ingresses"))
    assert (ing["CLASS"], ing["HOSTS"], ing["PORTS"]) == ("istio", "web.example.com", "80")
    [(_, [rb])] = table(k.ok("get", "rolebindings"))
    assert rb["ROLE"] == "ClusterRole/view"
    [(_, [hpa])] = table(k.ok("get", "hpa"))
    assert (hpa["REFERENCE"], hpa["TARGETS"]) == ("Deployment/web", "cpu: <unknown>/60%")
