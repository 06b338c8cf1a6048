"""Is each part of the platform really serving, not just listening?

An open port is not enough: PostgreSQL accepts connections while it still refuses them
("the database system is starting up"), and Temporal opens its port before the namespace
answers. Each probe therefore does the smallest real request, and never raises: a probe
answers a `Probe` that `mrbill status` prints and `--wait` polls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import httpx
import valkey.asyncio as valkey_asyncio
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client

from api.common.settings import Settings
from infra.stack import port_open

PROBE_TIMEOUT_SECONDS = 3.0


class NotReadyError(RuntimeError):
    """A dependency did not become ready in time; the message says which and why."""


@dataclass(frozen=True)
class Probe:
    up: bool
    detail: str = ""


CLOSED = Probe(False, "port closed")


def valkey_port(settings: Settings) -> int:
    return int(settings.valkey_url.rsplit(":", 1)[1].split("/")[0])


def temporal_port(settings: Settings) -> int:
    return int(settings.temporal_address.rsplit(":", 1)[1])


async def probe_postgres(settings: Settings) -> Probe:
    if not port_open(settings.pg_port, settings.pg_host):
        return CLOSED
    try:
        connection = await asyncpg.connect(settings.superuser_dsn(), timeout=PROBE_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure to connect means "not ready yet"
        return Probe(False, _reason(exc))
    try:
        version = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return Probe(True, f"PostgreSQL {version}")


async def probe_valkey(settings: Settings) -> Probe:
    if not port_open(valkey_port(settings)):
        return CLOSED
    client = valkey_asyncio.Valkey.from_url(settings.valkey_url, socket_timeout=PROBE_TIMEOUT_SECONDS)
    try:
        await client.ping()
        info = await client.info("server")
    except Exception as exc:
        return Probe(False, _reason(exc))
    finally:
        await client.aclose()
    return Probe(True, f"Valkey {info.get('valkey_version') or info.get('redis_version', '?')}")


async def _temporal_client(settings: Settings) -> Client:
    return await asyncio.wait_for(
        Client.connect(settings.temporal_address, namespace=settings.temporal_namespace),
        PROBE_TIMEOUT_SECONDS,
    )


async def probe_temporal(settings: Settings) -> Probe:
    if not port_open(temporal_port(settings)):
        return CLOSED
    try:
        client = await _temporal_client(settings)
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=settings.temporal_namespace)
        )
    except Exception as exc:
        return Probe(False, _reason(exc))
    return Probe(True, f"namespace {settings.temporal_namespace}")


async def probe_task_queue(settings: Settings, queue: str) -> Probe:
    """A worker is up when Temporal has seen it poll its queue recently."""
    if not port_open(temporal_port(settings)):
        return Probe(False, "Temporal is down")
    try:
        client = await _temporal_client(settings)
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=settings.temporal_namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    except Exception as exc:
        return Probe(False, _reason(exc))
    pollers = len(response.pollers)
    return Probe(pollers > 0, f"{pollers} poller(s) on queue {queue!r}")


async def probe_http(url: str) -> Probe:
    parsed = httpx.URL(url)
    if not port_open(parsed.port or 80, parsed.host):
        return CLOSED
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        return Probe(False, _reason(exc))
    return Probe(response.status_code == 200, f"HTTP {response.status_code}")


async def probe_port(port: int) -> Probe:
    return Probe(True, "listening") if port_open(port) else CLOSED


def infra_probes(settings: Settings) -> dict[str, Callable[[], Awaitable[Probe]]]:
    return {
        "postgres": lambda: probe_postgres(settings),
        "valkey": lambda: probe_valkey(settings),
        "temporal": lambda: probe_temporal(settings),
    }


async def wait_until_ready(
    probes: dict[str, Callable[[], Awaitable[Probe]]],
    within_seconds: float,
    on_waiting: Callable[[str, Probe], None] | None = None,
    interval: float = 0.5,
) -> None:
    """Poll every probe until all are up; report each one still down once, when first seen."""
    deadline = time.monotonic() + within_seconds
    pending = dict(probes)
    reported: set[str] = set()
    last: dict[str, Probe] = {}
    while pending:
        for name, probe in list(pending.items()):
            result = await probe()
            last[name] = result
            if result.up:
                del pending[name]
            elif name not in reported and on_waiting is not None:
                reported.add(name)
                on_waiting(name, result)
        if not pending:
            return
        if time.monotonic() > deadline:
            missing = ", ".join(f"{name} ({last[name].detail})" for name in pending)
            raise NotReadyError(f"not ready after {within_seconds:.0f}s: {missing}")
        await asyncio.sleep(interval)


def _reason(exc: BaseException, limit: int = 80) -> str:
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
