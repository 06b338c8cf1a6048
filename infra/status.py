"""One row per part of the platform: what it is, where it listens, and whether it answers.

A service of several instances has a row per instance (``realtime``, ``realtime-2``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from api.common.settings import SERVICES, Settings
from infra.edge import docs_path
from infra.readiness import (
    Probe,
    probe_http,
    probe_port,
    probe_postgres,
    probe_task_queue,
    probe_temporal,
    probe_valkey,
    valkey_port,
)
from infra.services import active_services, instance_url, service_instances


@dataclass(frozen=True)
class StatusRow:
    name: str
    kind: str
    address: str
    probe: Probe


def edge_url(settings: Settings) -> str:
    return f"http://{settings.edge_host}:{settings.edge_port}"


def temporal_ui_url(settings: Settings) -> str:
    host = settings.temporal_address.rsplit(":", 1)[0]
    return f"http://{host}:{settings.temporal_ui_port}"


def docs_urls(settings: Settings) -> dict[str, str]:
    """Swagger UI of each service, through the edge."""
    return {
        spec.name: f"{edge_url(settings)}{docs_path(spec.name)}/swagger" for spec in active_services(SERVICES)
    }


async def collect_status(settings: Settings) -> list[StatusRow]:
    specs = active_services(SERVICES)
    planned: list[tuple[str, str, str, Awaitable[Probe]]] = [
        ("postgres", "database", f"{settings.pg_host}:{settings.pg_port}", probe_postgres(settings)),
        ("valkey", "cache", f"127.0.0.1:{valkey_port(settings)}", probe_valkey(settings)),
        ("temporal", "workflows", settings.temporal_address, probe_temporal(settings)),
        (
            "temporal-ui",
            "web UI",
            temporal_ui_url(settings),
            probe_port(settings.temporal_ui_port),
        ),
        ("edge", "caddy", edge_url(settings), probe_http(f"{edge_url(settings)}/health")),
    ]
    for spec in specs:
        for instance in service_instances(spec, settings):
            url = instance_url(settings, instance)
            planned.append((instance.name, "service", url, probe_http(f"{url}/health/ready")))
        for queue in spec.task_queues:
            planned.append((f"worker-{queue}", "worker", f"queue {queue}", probe_task_queue(settings, queue)))
    probes = await asyncio.gather(*(probe for *_, probe in planned))
    return [
        StatusRow(name, kind, address, probe)
        for (name, kind, address, _), probe in zip(planned, probes, strict=True)
    ]
