"""Prometheus metrics: requests, latencies, operations by state."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# The bounds as prometheus_client writes them (1 is "1.0"), then +Inf.
_BOUNDS = (*(repr(float(bound)) for bound in LATENCY_BUCKETS), "+Inf")


class _Count:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0
        self.created = time.time()


class _Latencies:
    __slots__ = ("buckets", "created", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.created = time.time()


class Metrics:
    """The metrics of one application instance, kept as plain numbers and turned into Prometheus' text format when
    scraped (prometheus_client loads with the first scrape). Updated from the event loop only: no lock per request.
    """

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], _Count] = {}
        self._latencies: dict[tuple[str, str], _Latencies] = {}
        self._operations: list[tuple[str, str, int]] = []
        self._log_stream_subscribers = 0

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count and time one request."""
        count = self._requests.get((method, route, status))
        if count is None:
            count = self._requests[method, route, status] = _Count()
        count.value += 1
        latencies = self._latencies.get((method, route))
        if latencies is None:
            latencies = self._latencies[method, route] = _Latencies()
        latencies.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: a value on a bound is in its bucket
        latencies.sum += seconds

    def set_operations(self, counts: Iterable[tuple[str, str, int]]) -> None:
        """The number of operations of each (kind, state), replacing the previous ones."""
        self._operations = list(counts)

    def set_log_stream_subscribers(self, count: int) -> None:
        """How many live log stream listeners there are."""
        self._log_stream_subscribers = count

    def render(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def families(self) -> Iterator[Metric]:
        """The metric families as prometheus_client describes them."""
        from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
        from prometheus_client.samples import Sample

        requests = CounterMetricFamily(
            "cloudfaster_http_requests", "HTTP requests", labels=["method", "route", "status"]
        )
        for (method, route, status), count in list(self._requests.items()):
            requests.add_metric([method, route, str(status)], count.value, created=count.created)
        yield requests
        latency = HistogramMetricFamily(
            "cloudfaster_http_request_duration_seconds", "HTTP request latency", labels=["method", "route"]
        )
        for (method, route), latencies in list(self._latencies.items()):
            cumulative, buckets = 0, []
            for bound, observed in zip(_BOUNDS, latencies.buckets, strict=True):
                cumulative += observed
                buckets.append((bound, float(cumulative)))
            latency.add_metric([method, route], buckets, latencies.sum)
            created = {"method": method, "route": route}
            latency.samples.append(Sample(f"{latency.name}_created", created, latencies.created))
        yield latency
        operations = GaugeMetricFamily(
            "cloudfaster_operations", "Operations by kind and state", labels=["kind", "state"]
        )
        for kind, state, number in self._operations:
            operations.add_metric([kind, state], number)
        yield operations
        yield GaugeMetricFamily(
            "cloudfaster_log_stream_subscribers", "Live log stream listeners", value=self._log_stream_subscribers
        )


class _Collector:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics.families()
