"""The metrics' text: what prometheus_client's own Counter, Histogram and Gauges would write for the same updates."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from cloudfaster.core.metrics import LATENCY_BUCKETS, Metrics

REQUESTS = [
    ("GET", "/users/{userid}", 200, 0.0004),
    ("GET", "/users/{userid}", 200, 0.001),  # on a bound: counted in that bound's bucket
    ("GET", "/users/{userid}", 404, 0.003),
    ("POST", "/vm", 202, 0.7),
    ("POST", "/vm", 202, 12.0),  # over the last bound: +Inf only
    ("GET", "unmatched", 404, 0.00002),
]


def _without_created(text: bytes) -> list[str]:
    return [line for line in text.decode().splitlines() if not re.match(r"^\w+_created[{ ]", line)]


def test_the_text_is_what_prometheus_client_writes_for_the_same_updates() -> None:
    ours = Metrics()
    registry = CollectorRegistry()
    requests = Counter("cloudfaster_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry)
    latency = Histogram(
        "cloudfaster_http_request_duration_seconds",
        "HTTP request latency",
        ["method", "route"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    operations = Gauge("cloudfaster_operations", "Operations by kind and state", ["kind", "state"], registry=registry)
    subscribers = Gauge("cloudfaster_log_stream_subscribers", "Live log stream listeners", registry=registry)
    for method, route, status, seconds in REQUESTS:
        ours.observe_request(method, route, status, seconds)
        requests.labels(method, route, str(status)).inc()
        latency.labels(method, route).observe(seconds)
    ours.set_operations([("vm.create", "running", 2), ("service.create", "succeeded", 5)])
    operations.labels("vm.create", "running").set(2)
    operations.labels("service.create", "succeeded").set(5)
    ours.set_log_stream_subscribers(3)
    subscribers.set(3)

    text, content_type = ours.render()
    assert _without_created(text) == _without_created(generate_latest(registry))
    assert content_type.startswith("text/plain")
    created = [line.split("{")[0] for line in text.decode().splitlines() if "_created{" in line]
    assert (
        created == ["cloudfaster_http_requests_created"] * 4 + ["cloudfaster_http_request_duration_seconds_created"] * 3
    )


def test_operations_are_replaced_at_each_count() -> None:
    metrics = Metrics()
    metrics.set_operations([("vm.create", "running", 1)])
    metrics.set_operations([("vm.delete", "pending", 4)])
    text = metrics.render()[0].decode()
    assert 'cloudfaster_operations{kind="vm.delete",state="pending"} 4.0' in text
    assert "vm.create" not in text
