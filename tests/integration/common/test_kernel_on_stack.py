"""The kernel against the real stack: the Valkey denylist and readiness of PostgreSQL, Valkey, Temporal.

The apps run on the test's own event loop (httpx's ASGI transport): Litestar's AsyncTestClient
serves from a thread of its own, and real connection pools belong to exactly one loop.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from litestar import Litestar, get
from piccolo.engine.postgres import PostgresEngine
from temporalio.client import Client
from valkey.asyncio import Valkey

from api.common.app import create_service_app
from api.common.auth import StaticKeySet, ValkeyDenylist, verify_access_token
from api.common.health import database_check, temporal_check, valkey_check
from api.common.settings import Settings
from api.common.valkey import create_valkey
from infra.stack import free_port
from tests.unit.common.token_factory import new_signing_key, sign_access_token

pytestmark = [pytest.mark.integration, pytest.mark.security]

KEY = new_signing_key("stack-key")


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.lifespan(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
            base_url="http://probe.test",
        ) as client,
    ):
        yield client


@get("/v1/whoami", operation_id="whoAmI", sync_to_thread=False)
def whoami() -> dict[str, str]:
    return {"ok": "yes"}


@pytest.fixture
async def valkey(stack_settings: Settings) -> AsyncIterator[Valkey]:
    client = create_valkey(stack_settings)
    try:
        yield client
    finally:
        await client.aclose()


async def test_valkey_client_decodes_strings(valkey: Valkey) -> None:
    key = f"mrbill:test:{uuid.uuid4().hex}"
    await valkey.set(key, "olá", ex=30)
    assert await valkey.get(key) == "olá"


async def test_denylist_keeps_a_jti_only_until_the_token_expires(valkey: Valkey) -> None:
    denylist = ValkeyDenylist(valkey)
    jti, other = uuid.uuid4().hex, uuid.uuid4().hex
    assert not await denylist.is_revoked(jti)
    await denylist.revoke(jti, 60)
    assert await denylist.is_revoked(jti)
    assert not await denylist.is_revoked(other)
    assert await valkey.get(f"mrbill:denylist:jti:{jti}") == "1"
    assert 0 < await valkey.ttl(f"mrbill:denylist:jti:{jti}") <= 60
    await denylist.revoke(
        other, 0
    )  # an already expired token still gets a short entry, never a permanent one
    assert 0 < await valkey.ttl(ValkeyDenylist.key(other)) <= 1


async def test_a_revoked_token_is_refused_by_every_service(stack_settings: Settings, valkey: Valkey) -> None:
    denylist = ValkeyDenylist(valkey)
    app = create_service_app(
        service="probe",
        settings=stack_settings,
        route_handlers=[whoami],
        key_set=StaticKeySet([KEY]),
        denylist=denylist,
    )
    token = sign_access_token(KEY, stack_settings)
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    async with serving(app) as client:
        assert (await client.get("/v1/whoami", headers=headers)).status_code == 200
        claims = await verify_access_token(token, StaticKeySet([KEY]), stack_settings)
        await denylist.revoke(claims.jti, claims.seconds_left())
        refused = await client.get("/v1/whoami", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The access token has been revoked."


async def test_an_unreachable_denylist_fails_closed(stack_settings: Settings) -> None:
    unreachable = Valkey.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    app = create_service_app(
        service="probe",
        settings=stack_settings,
        route_handlers=[whoami],
        key_set=StaticKeySet([KEY]),
        denylist=ValkeyDenylist(unreachable),
    )
    headers = {"Authorization": f"Bearer {sign_access_token(KEY, stack_settings)}", "Accept-Language": "en"}
    try:
        async with serving(app) as client:
            response = await client.get("/v1/whoami", headers=headers)
    finally:
        await unreachable.aclose()
    assert response.status_code == 503
    assert response.json()["detail"] == "Authentication is temporarily unavailable."


@pytest.mark.filterwarnings("ignore:.*Unable to connect to database")
async def test_readiness_checks_the_real_database_valkey_and_temporal(
    stack_settings: Settings, valkey: Valkey
) -> None:
    engine = PostgresEngine(config={"dsn": stack_settings.database_url("identity"), "timeout": 2})
    broken_engine = PostgresEngine(
        config={
            "dsn": stack_settings.database_url("identity").replace(
                f":{stack_settings.pg_port}/", f":{free_port()}/"
            ),
            "timeout": 2,
        }
    )
    temporal = await Client.connect(
        stack_settings.temporal_address, namespace=stack_settings.temporal_namespace
    )
    checks = {
        "database": database_check(engine),
        "valkey": valkey_check(valkey),
        "temporal": temporal_check(temporal),
    }
    healthy = create_service_app(
        service="probe", settings=stack_settings, route_handlers=[], readiness_checks=checks
    )
    degraded = create_service_app(
        service="probe",
        settings=stack_settings,
        route_handlers=[],
        readiness_checks={**checks, "database": database_check(broken_engine)},
    )
    async with serving(healthy) as client:
        ready = await client.get("/health/ready")
    async with serving(degraded) as client:
        not_ready = await client.get("/health/ready", headers={"Accept-Language": "pt-BR"})
    assert ready.status_code == 200
    assert {name: check["status"] for name, check in ready.json()["checks"].items()} == {
        "database": "ok",
        "valkey": "ok",
        "temporal": "ok",
    }
    assert not_ready.status_code == 503
    body = not_ready.json()
    assert body["detail"] == "Não está pronto: falha em database."
    assert body["checks"]["database"]["status"] == "failed"
    assert body["checks"]["temporal"]["status"] == "ok"
