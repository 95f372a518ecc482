"""The hourly cost of a cluster spec, from list prices recorded in knwalk."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kn_walk.gke.spec import ClusterSpec

HOURS_PER_MONTH = 730
CLUSTER_FEE_HOURLY = 0.10
#: Sources: cloud.google.com/compute/vm-instance-pricing (N1/N2/E2 vCPU and memory rates),
#: cloud.google.com/compute/disks-image-pricing (persistent disk per GB-month) and
#: cloud.google.com/kubernetes-engine/pricing ($0.10 per cluster-hour; the free tier's
#: $74.40 monthly credit covers one zonal cluster per billing account).
PRICE_SOURCE = (
    "us-central1 on-demand list prices in USD recorded in knwalk from Google Cloud's "
    "Compute Engine, persistent disk and GKE pricing pages; other regions, discounts and "
    "the GKE free tier change it (cloud.google.com/products/calculator)"
)
#: (USD per vCPU-hour, USD per GB-hour), us-central1 on-demand
_FAMILY_RATES = {
    "n1": (0.031611, 0.004237),
    "n2": (0.031611, 0.004237),
    "e2": (0.02181159, 0.00292353),
}
#: GB of memory per vCPU for predefined shapes
_MEMORY_PER_VCPU = {
    "n1": {"standard": 3.75, "highmem": 6.5, "highcpu": 0.9},
    "n2": {"standard": 4.0, "highmem": 8.0, "highcpu": 1.0},
    "e2": {"standard": 4.0, "highmem": 8.0, "highcpu": 1.0},
}
#: USD per GB-month, us-central1
_DISK_MONTHLY = {"pd-standard": 0.04, "pd-balanced": 0.10, "pd-ssd": 0.17}
_MACHINE_SHAPE_RE = re.compile(r"^(n1|n2|e2)-(standard|highmem|highcpu)-(\d+)$")


#: Spot and preemptible VMs: "discounts of up to 91%", 60-91% off the on-demand price of
#: the machine type; the price changes at most once a day
#: (cloud.google.com/spot-vms/pricing, cloud.google.com/compute/docs/instances/preemptible).
SPOT_DISCOUNT = (0.60, 0.91)


@dataclass(frozen=True)
class CostEstimate:
    """Hourly cost of a cluster spec; parts are None when no list price is on record.

    ``nodes`` is how many nodes the cluster starts with; ``node_range`` the fewest and
    most the autoscaler may run (None without autoscaling). For spot and preemptible
    nodes (``provisioning``) the node price is a range, :data:`SPOT_DISCOUNT` off.
    """

    nodes: int
    machine_type: str
    node_hourly: float | None
    disk_hourly: float | None
    cluster_fee: float
    node_range: tuple[int, int] | None = None
    provisioning: str = ""
    source: str = PRICE_SOURCE
    missing: tuple[str, ...] = ()

    @property
    def node_prices(self) -> tuple[float, float] | None:
        """(lowest, highest) hourly price of one node."""
        if self.node_hourly is None:
            return None
        if self.provisioning:
            low, high = SPOT_DISCOUNT
            return self.node_hourly * (1 - high), self.node_hourly * (1 - low)
        return self.node_hourly, self.node_hourly

    def hourly(self, nodes: int) -> tuple[float, float]:
        """(lowest, highest) hourly cost with ``nodes`` nodes, of the parts with a price."""
        low, high = self.node_prices or (0.0, 0.0)
        disk = self.disk_hourly or 0.0
        return (
            nodes * (low + disk) + self.cluster_fee,
            nodes * (high + disk) + self.cluster_fee,
        )

    @property
    def total(self) -> float:
        """The known parts added up with the starting nodes (the highest price for spot)."""
        return self.hourly(self.nodes)[1]

    def describe(self) -> str:
        parts = []
        prices = self.node_prices
        if prices is not None:
            kind = f" {self.provisioning}" if self.provisioning else ""
            if self.provisioning:
                low, high = SPOT_DISCOUNT
                parts.append(
                    f"{self.nodes} × {self.machine_type}{kind} at {_money(*prices, 4)} "
                    f"({low * 100:.0f}–{high * 100:.0f}% below the on-demand ${self.node_hourly:.4f})"
                )
            else:
                parts.append(f"{self.nodes} × {self.machine_type} at ${prices[0]:.4f}")
        if self.disk_hourly is not None:
            parts.append(f"{self.nodes} boot disks at ${self.disk_hourly:.4f}")
        parts.append(f"cluster fee ${self.cluster_fee:.2f}")
        text = f"about {_money(*self.hourly(self.nodes))}/hour (" + " + ".join(parts) + ")"
        if self.node_range is not None:
            fewest, most = self.node_range
            low, _ = self.hourly(fewest)
            _, high = self.hourly(most)
            text += (
                f"; with autoscaling between {fewest} and {most} nodes, {_money(low, high)}/hour"
            )
        if self.missing:
            text += "; not included: " + "; ".join(self.missing)
        return text


def _money(low: float, high: float, digits: int = 2) -> str:
    if f"{low:.{digits}f}" == f"{high:.{digits}f}":
        return f"${low:.{digits}f}"
    return f"${low:.{digits}f}–${high:.{digits}f}"


def machine_hourly(machine_type: str) -> float | None:
    match = _MACHINE_SHAPE_RE.match(machine_type)
    if not match:
        return None
    family, shape, vcpus = match.group(1), match.group(2), int(match.group(3))
    cpu_rate, mem_rate = _FAMILY_RATES[family]
    return vcpus * cpu_rate + vcpus * _MEMORY_PER_VCPU[family][shape] * mem_rate


def estimate_cost(spec: ClusterSpec) -> CostEstimate:
    node = machine_hourly(spec.machine_type)
    monthly = _DISK_MONTHLY.get(spec.disk_type)
    disk = None if monthly is None else spec.disk_size_gb * monthly / HOURS_PER_MONTH
    missing = []
    if node is None:
        missing.append(f"{spec.machine_type} nodes (no list price on record)")
    if disk is None:
        missing.append(f"{spec.disk_type} disks (priced by capacity and performance)")
    provisioning = "spot" if spec.spot else "preemptible" if spec.preemptible else ""
    return CostEstimate(
        nodes=spec.total_nodes,
        machine_type=spec.machine_type,
        node_hourly=node,
        disk_hourly=disk,
        cluster_fee=CLUSTER_FEE_HOURLY,
        node_range=spec.node_range,
        provisioning=provisioning,
        missing=tuple(missing),
    )
