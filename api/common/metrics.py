"""Prometheus metrics of one service: request count and latency by route template, method, status.

Each app gets its own registry (several apps may live in one test process); routes are labelled
by their template (``/v1/users/{user_id}``), never the raw path, so label cardinality stays
bounded. Services add their own metrics to ``app.state.metrics.registry``.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get
from litestar.enums import ScopeType
from litestar.response import Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "<unmatched>"
# Litestar appends the charset to text/* itself.
METRICS_MEDIA_TYPE = CONTENT_TYPE_LATEST.split("; charset=")[0]
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """The HTTP instruments of one service, in a registry of its own."""

    def __init__(self, service: str, *, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        labels = ("service", "method", "route", "status")
        self.requests = Counter(
            "mrbill_http_requests", "HTTP requests answered.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "mrbill_http_request_duration_seconds",
            "Time from the first byte received to the last byte sent.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "mrbill_http_requests_in_flight",
            "Requests being served right now.",
            ("service",),
            registry=self.registry,
        )
        self.in_flight_here = self.in_flight.labels(service)
        # ``labels()`` validates and locks on every call; the children never change, so keep
        # them. Routes are templates and methods few, so this stays as small as the metrics.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:
            labels = (self.service, method, route, str(status))
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._children[(method, route, status)] = children
        requests, latency = children
        requests.inc()
        latency.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP request, including unknown paths and failures, once it is answered."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()
        in_flight = self.metrics.in_flight_here
        in_flight.inc()

        async def send_observing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observing_status)
        finally:
            in_flight.dec()
            self.metrics.observe(
                method=str(scope.get("method", "GET")),
                route=scope.get("path_template") or UNMATCHED_ROUTE,
                status=status,
                seconds=time.perf_counter() - started,
            )


@get(
    METRICS_PATH,
    operation_id="getMetrics",
    summary="Prometheus metrics",
    tags=["ops"],
    opt={"public": True},
    media_type=METRICS_MEDIA_TYPE,
    sync_to_thread=False,
)
def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    metrics: ServiceMetrics = request.app.state.metrics
    return Response(content=metrics.exposition(), media_type=METRICS_MEDIA_TYPE)
