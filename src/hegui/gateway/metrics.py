"""Prometheus metrics, one registry per app (several apps may live in one process, e.g. tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hegui_requests_total",
            "Requests by route, status and outcome",
            ["route", "status", "outcome"],
            registry=self.registry,
        )
        self.actions = Counter(
            "hegui_moderation_actions_total",
            "Moderation actions by stage",
            ["stage", "action"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hegui_request_seconds",
            "Total request latency",
            ["route", "stream"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.upstream_latency = Histogram(
            "hegui_upstream_seconds",
            "Upstream latency (non-streaming) / time to open (streaming)",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.open_streams = Gauge("hegui_open_streams", "Streams being served now", registry=self.registry)
        self.audit_queue = Gauge(
            "hegui_audit_queue", "Audit records waiting to be written", registry=self.registry
        )
        self.incidents = Counter(
            "hegui_incidents_total", "Incidents recorded", ["stage"], registry=self.registry
        )
