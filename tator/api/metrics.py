"""Prometheus metrics: one registry per app (no process globals), rendered at GET /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class HttpMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tator_http_requests", "HTTP requests handled", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "tator_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def add_gauges(self, read: Callable[[], dict[str, dict[tuple[tuple[str, str], ...], float]]]) -> None:
        """Register gauges computed at scrape time: name -> {label pairs -> value}."""
        self.registry.register(_ReadOnScrape(read))

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class _ReadOnScrape(Collector):
    def __init__(self, read: Callable[[], dict[str, dict[tuple[tuple[str, str], ...], float]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        for name, samples in self._read().items():
            labels = sorted({key for pairs in samples for key, _ in pairs})
            family = GaugeMetricFamily(name, name.replace("_", " "), labels=labels)
            for pairs, value in samples.items():
                values = dict(pairs)
                family.add_metric([values.get(label, "") for label in labels], value)
            yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())
