"""deploy/base/network-policies.yaml: Prometheus in the `monitoring` namespace reaches every component's metrics port,
as the pods' prometheus.io/port annotation names it, and nothing else is opened to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "auth", "kyc", "txn", "fraud", "notify")
PROMETHEUS_NAMESPACE = {"kubernetes.io/metadata.name": "monitoring"}
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus"}


def _manifests() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted((ROOT / "deploy").rglob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes' label selector semantics (matchLabels and the In / NotIn / Exists / DoesNotExist expressions)."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _peer_admits(peer: dict[str, Any], namespace_labels: dict[str, str], pod_labels: dict[str, str]) -> bool:
    """A `from` entry: an ipBlock never names a namespace; without namespaceSelector only the policy's namespace."""
    if "ipBlock" in peer or "namespaceSelector" not in peer:
        return False
    return _selects(peer["namespaceSelector"], namespace_labels) and _selects(peer.get("podSelector", {}), pod_labels)


def _port_number(port: int | str, container: dict[str, Any]) -> int:
    if isinstance(port, int):
        return port
    return next(item["containerPort"] for item in container["ports"] if item.get("name") == port)


def _scrape_allowed(pod: dict[str, Any], namespace: str, port: int, pod_labels_of_scraper: dict[str, str]) -> bool:
    labels = pod["metadata"]["labels"]
    (container,) = pod["spec"]["containers"]
    for policy in (document for document in _manifests() if document["kind"] == "NetworkPolicy"):
        if policy["metadata"]["namespace"] != namespace or not _selects(policy["spec"]["podSelector"], labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            admitted = peers is None or any(
                _peer_admits(peer, PROMETHEUS_NAMESPACE, pod_labels_of_scraper) for peer in peers
            )
            ports = rule.get("ports")
            opened = ports is None or any(
                item.get("protocol", "TCP") == "TCP" and _port_number(item["port"], container) == port for item in ports
            )
            if admitted and opened:
                return True
    return False


def _deployments() -> dict[str, dict[str, Any]]:
    return {document["metadata"]["name"]: document for document in _manifests() if document["kind"] == "Deployment"}


def test_prometheus_in_monitoring_may_scrape_every_services_metrics_port() -> None:
    deployments = _deployments()
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        port = int(annotations["prometheus.io/port"])
        assert _scrape_allowed(pod, deployment["metadata"]["namespace"], port, PROMETHEUS_POD), name


def test_only_prometheus_gets_in_from_monitoring_to_the_internal_services() -> None:
    """The rule is for the scraper: another pod of the monitoring namespace (a Grafana, say) reaches no internal
    service (the gateway is open to all, by design)."""
    for name, deployment in _deployments().items():
        if name == "gateway":
            continue
        pod = deployment["spec"]["template"]
        port = int(pod["metadata"]["annotations"]["prometheus.io/port"])
        namespace = deployment["metadata"]["namespace"]
        assert not _scrape_allowed(pod, namespace, port, {"app.kubernetes.io/name": "grafana"}), name


def test_the_policy_is_a_namespace_and_pod_selector_together_not_either() -> None:
    """One `from` entry with both selectors (AND); two entries would admit every pod of monitoring, or every pod
    named prometheus anywhere."""
    (policy,) = [
        document
        for document in _manifests()
        if document["kind"] == "NetworkPolicy" and document["metadata"]["name"] == "allow-prometheus-scrape"
    ]
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"] == {"matchLabels": PROMETHEUS_NAMESPACE}
    assert peer["podSelector"] == {"matchLabels": PROMETHEUS_POD}
