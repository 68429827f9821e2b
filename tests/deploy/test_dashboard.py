"""The Grafana dashboard (deploy/grafana/sekisho.json) and the Prometheus alert rules (deploy/prometheus/alerts.yml)
ask only for series and labels that shared/metrics.py registers, and every alert names a section of
deploy/RUNBOOK.md that exists: a renamed series or label, or a moved heading, fails here instead of leaving an empty
panel or a silent alert."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import ServiceMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "sekisho.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOK = ROOT / "deploy" / "RUNBOOK.md"

METRIC = re.compile(r"\bsekisho_[a-z_]+")
# A metric name with its label matchers: the labels named in them must be the metric's own.
SELECTOR = re.compile(r"\b(sekisho_[a-z_]+)\s*\{([^}]*)\}")
MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
BY = re.compile(r"\bby\s*\(([^)]*)\)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _registered() -> dict[str, frozenset[str]]:
    """Every series name a scrape shows, with its labels, read from the metrics every service registers."""
    metrics = ServiceMetrics("gateway")
    series: dict[str, frozenset[str]] = {}
    for value in vars(metrics).values():
        if not isinstance(value, Counter | Gauge | Histogram):
            continue
        (family,) = value.describe()
        labels = frozenset(value._labelnames)
        if isinstance(value, Counter):
            series[family.name + "_total"] = labels
        elif isinstance(value, Histogram):
            series[family.name] = labels
            series.update({family.name + suffix: labels for suffix in ("_sum", "_count")})
            series[family.name + "_bucket"] = labels | {"le"}
        else:
            series[family.name] = labels
    return series


REGISTERED = _registered()


def _base(name: str) -> str:
    """The registered name a series refers to: `_bucket`/`_sum`/`_count` belong to their histogram."""
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in REGISTERED:
            return name[: -len(suffix)]
    return name


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def _panel_expressions() -> list[tuple[str, str]]:
    found = []
    for panel in _dashboard()["panels"]:
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    return found


def _rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def _expressions() -> list[tuple[str, str]]:
    variable = _dashboard()["templating"]["list"][1]
    return [
        *_panel_expressions(),
        *((f"alert {rule['alert']}", rule["expr"]) for rule in _rules()),
        ("variable service", variable["definition"]),
    ]


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _runbook_anchors() -> set[str]:
    lines = RUNBOOK.read_text(encoding="utf-8").splitlines()
    return {_anchor(line.lstrip("#")) for line in lines if line.startswith("#")}


def test_the_registry_read_here_is_the_one_the_readme_documents() -> None:
    # The names a scrape shows (counters with _total): if this reading of shared/metrics.py went wrong, every
    # check below would compare with the wrong names.
    assert REGISTERED["sekisho_http_requests_total"] == {"service", "method", "route", "status"}
    assert REGISTERED["sekisho_http_request_duration_seconds_bucket"] == {"service", "method", "route", "status", "le"}
    assert REGISTERED["sekisho_outbox_depth"] == {"service"}
    assert REGISTERED["sekisho_auth_lockouts_total"] == {"side", "kind", "lock"}
    assert "sekisho_http_requests" not in REGISTERED


def test_the_dashboard_is_a_grafana_dashboard_with_a_prometheus_datasource_and_a_service_variable() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 36
    datasource, service = dashboard["templating"]["list"]
    assert (datasource["name"], datasource["type"], datasource["query"]) == ("datasource", "datasource", "prometheus")
    assert service["name"] == "service"
    assert service["type"] == "query"
    assert service["definition"].startswith("label_values(")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_dashboard_shows_every_registered_series() -> None:
    used = {_base(name) for _, expr in _panel_expressions() for name in METRIC.findall(expr)}
    registered = {_base(name) for name in REGISTERED}
    assert registered <= used, f"series on no panel: {sorted(registered - used)}"


@pytest.mark.parametrize(("where", "expr"), _expressions(), ids=lambda value: str(value)[:60])
def test_every_series_and_label_asked_for_is_registered(where: str, expr: str) -> None:
    names = METRIC.findall(expr)
    assert names, f"{where}: no sekisho series in {expr!r}"
    unknown = [name for name in names if name not in REGISTERED]
    assert not unknown, f"{where}: series not in shared/metrics.py: {unknown}"
    for name, matchers in SELECTOR.findall(expr):
        for label in MATCHER_LABEL.findall(matchers):
            assert label in REGISTERED[name], f"{where}: {name} has no label {label!r}"
    for clause in BY.findall(expr):
        for label in (part.strip() for part in clause.split(",") if part.strip()):
            # Every series aggregated in one expression here carries the labels it is grouped by.
            missing = [name for name in names if label not in REGISTERED[name]]
            assert not missing, f"{where}: by ({clause}) but {missing} have no label {label!r}"


def test_the_checks_above_catch_an_unknown_series_or_label() -> None:
    with pytest.raises(AssertionError, match=r"not in shared/metrics\.py"):
        test_every_series_and_label_asked_for_is_registered("x", "rate(sekisho_http_request_total[5m])")
    grouped = "sum by (channel) (rate(sekisho_fraud_scores_total[5m]))"
    with pytest.raises(AssertionError, match="no label 'channel'"):
        test_every_series_and_label_asked_for_is_registered("x", grouped)
    with pytest.raises(AssertionError, match="no label 'customer_id'"):
        test_every_series_and_label_asked_for_is_registered("x", 'sekisho_outbox_depth{customer_id="1"}')


def test_every_alert_links_to_a_section_of_the_runbook() -> None:
    anchors = _runbook_anchors()
    rules = _rules()
    assert rules
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"page", "warn"}, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"], rule["alert"]
        url = annotations["runbook_url"]
        assert url.startswith("deploy/RUNBOOK.md#"), rule["alert"]
        assert url.split("#", 1)[1] in anchors, f"{rule['alert']}: no heading {url!r} in RUNBOOK.md"


def test_every_runbook_link_inside_the_runbook_points_at_a_heading() -> None:
    anchors = _runbook_anchors()
    links = re.findall(r"\]\(#([^)]+)\)", RUNBOOK.read_text(encoding="utf-8"))
    assert links
    assert set(links) <= anchors
