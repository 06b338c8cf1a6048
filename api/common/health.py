"""Liveness and readiness probes.

``/health/live`` only says the process answers (a restart would not help anything else);
``/health/ready`` runs the service's dependency checks concurrently, each with a timeout, and
answers 503 problem+json naming the failed ones so the load balancer stops sending traffic.
Error messages of failed checks go to the log only: the probe is public and they may name hosts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol

import msgspec
import structlog
import temporalio.client
from litestar import Request, get
from valkey.asyncio import Valkey

from api.common.errors import ServiceUnavailableError
from api.common.i18n import N_
from api.common.schemas import CamelStruct

ReadinessCheck = Callable[[], Awaitable[None]]
"""Raises (or times out) when the dependency is not usable."""

DEFAULT_CHECK_TIMEOUT_SECONDS = 3.0

logger = structlog.get_logger(__name__)


class LivenessReport(CamelStruct):
    status: Literal["ok"] = "ok"


class CheckReport(CamelStruct):
    status: Literal["ok", "failed"]
    duration_ms: float
    error: str | None = None


class ReadinessReport(CamelStruct):
    status: Literal["ok"]
    checks: dict[str, CheckReport]


async def _run_check(name: str, check: ReadinessCheck, limit_seconds: float) -> CheckReport:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), limit_seconds)
    except Exception as exc:
        error = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        logger.warning("readiness check failed", check=name, error=error, reason=str(exc))
        return CheckReport(status="failed", duration_ms=_elapsed_ms(started), error=error)
    return CheckReport(status="ok", duration_ms=_elapsed_ms(started))


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def run_readiness_checks(
    checks: Mapping[str, ReadinessCheck], *, limit_seconds: float = DEFAULT_CHECK_TIMEOUT_SECONDS
) -> dict[str, CheckReport]:
    names = list(checks)
    reports = await asyncio.gather(*(_run_check(name, checks[name], limit_seconds) for name in names))
    return dict(zip(names, reports, strict=True))


@get(
    "/health/live",
    operation_id="getLiveness",
    summary="The process is running",
    tags=["ops"],
    opt={"public": True},
    sync_to_thread=False,
)
def liveness() -> LivenessReport:
    return LivenessReport()


@get(
    "/health/ready",
    operation_id="getReadiness",
    summary="Every dependency this service needs answers",
    tags=["ops"],
    opt={"public": True},
)
async def readiness(request: Request[Any, Any, Any]) -> ReadinessReport:
    checks: Mapping[str, ReadinessCheck] = getattr(request.app.state, "readiness_checks", {})
    timeout: float = getattr(request.app.state, "readiness_timeout", DEFAULT_CHECK_TIMEOUT_SECONDS)
    reports = await run_readiness_checks(checks, limit_seconds=timeout)
    failed = sorted(name for name, report in reports.items() if report.status != "ok")
    if failed:
        raise ServiceUnavailableError(
            N_("Not ready: {checks} failed."),
            checks=", ".join(failed),
            extra={"checks": msgspec.to_builtins(reports)},
        )
    return ReadinessReport(status="ok", checks=reports)


# -- checks for the platform's usual dependencies ---------------------------------------------


class _SupportsRunDDL(Protocol):
    async def run_ddl(self, ddl: str, in_pool: bool = True) -> Any: ...


def database_check(engine: _SupportsRunDDL) -> ReadinessCheck:
    """``SELECT 1`` through the service's Piccolo engine (its pool when one is running)."""

    async def check() -> None:
        await engine.run_ddl("SELECT 1", in_pool=True)

    return check


def valkey_check(client: Valkey) -> ReadinessCheck:
    async def check() -> None:
        if not await client.ping():
            raise ConnectionError("Valkey did not answer PING")

    return check


def temporal_check(client: temporalio.client.Client) -> ReadinessCheck:
    async def check() -> None:
        if not await client.service_client.check_health():
            raise ConnectionError("Temporal's workflow service is not serving")

    return check
