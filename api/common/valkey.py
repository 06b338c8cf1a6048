"""The Valkey client every service shares (lockout counters, denylist, rate limits, pub/sub)."""

from __future__ import annotations

from valkey.asyncio import Valkey

from api.common.health import ReadinessCheck, valkey_check
from api.common.settings import Settings

CONNECT_TIMEOUT_SECONDS = 2.0
SOCKET_TIMEOUT_SECONDS = 5.0


def create_valkey(settings: Settings) -> Valkey:
    """A pooled client; build it once per process in the app factory and close it on shutdown."""
    client: Valkey = Valkey.from_url(
        settings.valkey_url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
    return client


def valkey_readiness_check(client: Valkey) -> ReadinessCheck:
    return valkey_check(client)
