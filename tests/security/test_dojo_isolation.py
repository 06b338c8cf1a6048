"""Tenant isolation of dojos, through the API, the join codes, the room access and the database.

The app connects as ``dojo_app`` (no ownership, no BYPASSRLS), so every request here runs under
forced row-level security; the direct queries use that same role. Another tenant's dojo is a 404
whatever the path to it (its id, its join code, its room), exactly like a dojo that never existed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from api.common.auth import TokenClaims, ValkeyDenylist
from api.common.settings import Settings
from api.common.valkey import create_valkey
from realtime.dojos import repository
from realtime.ports import AccessRefused
from tests.integration.realtime.conftest import client, dojo_changes, live_rooms, mint, settings
from tests.integration.realtime.dojos_support import (
    Caller,
    DojoClient,
    TokenMint,
    create_dojo,
    start_dojo,
)

__all__ = ["client", "dojo_changes", "live_rooms", "mint", "settings"]

pytestmark = [pytest.mark.integration, pytest.mark.security]

ROLES: tuple[tuple[str, ...], ...] = (("MEMBER",), ("ADMIN",), ("OWNER",), ("SUPERADMIN",))


async def _probe(client: DojoClient, intruder: Caller, dojo: dict[str, Any]) -> None:
    base = f"/v1/dojos/{dojo['dojoId']}"
    for method, path in (
        ("GET", base),
        ("PATCH", base),
        ("POST", f"{base}/join"),
        ("POST", f"{base}/leave"),
        ("POST", f"{base}/start"),
        ("POST", f"{base}/end"),
        ("POST", f"{base}/cancel"),
        ("POST", f"{base}/join-code"),
    ):
        response = await client.request(method, path, json={}, headers=intruder.headers)
        assert response.status_code == 404, (intruder.roles, method, path, response.text)
        assert response.json()["code"] == "dojo-not-found"
    by_code = await client.post(
        "/v1/dojos/join", json={"joinCode": dojo["joinCode"]}, headers=intruder.headers
    )
    assert by_code.status_code == 404, "a join code of another tenant matches nothing"
    assert by_code.json()["code"] == "dojo-not-found"
    listed = await client.get(
        "/v1/dojos?status=SCHEDULED&status=ACTIVE&status=COMPLETED", headers=intruder.headers
    )
    assert dojo["dojoId"] not in [item["dojoId"] for item in listed.json()["items"]]


async def test_another_tenants_dojos_do_not_exist(client: DojoClient, mint: TokenMint) -> None:
    victim = mint.caller(roles=("OWNER",))
    public = await create_dojo(client, victim, isPrivate=False)
    private = await create_dojo(client, victim)
    running = await create_dojo(client, victim, isPrivate=False)
    await start_dojo(client, victim, running["dojoId"])
    for roles in ROLES:
        intruder = mint.caller(roles=roles)
        for dojo in (public, private, running):
            await _probe(client, intruder, dojo)
        assert (await client.get("/v1/dojos", headers=intruder.headers)).json()["totalItems"] == 0
    # The same user id under another tenant's token is another person.
    twin = mint.caller(roles=("OWNER",))
    twin_token = Caller(victim.user_id, twin.tenant_id, twin.roles, twin.token, twin.jti)
    assert (await client.get(f"/v1/dojos/{private['dojoId']}", headers=twin_token.headers)).status_code == 404

    untouched = (await client.get(f"/v1/dojos/{public['dojoId']}", headers=victim.headers)).json()
    assert (untouched["status"], untouched["version"], untouched["participantCount"]) == ("SCHEDULED", 1, 1)
    assert untouched["joinCode"] == public["joinCode"]
    assert (await client.get(f"/v1/dojos/{running['dojoId']}", headers=victim.headers)).json()[
        "status"
    ] == "ACTIVE"


async def test_private_dojos_are_hidden_inside_the_tenant_even_from_managers(
    client: DojoClient, mint: TokenMint
) -> None:
    maria = mint.caller()
    private = await create_dojo(client, maria)
    for roles in (("MEMBER",), ("ADMIN",), ("OWNER",)):
        colleague = mint.caller(maria.tenant_id, roles=roles)
        base = f"/v1/dojos/{private['dojoId']}"
        for method, path in (("GET", base), ("POST", f"{base}/join"), ("POST", f"{base}/start")):
            response = await client.request(method, path, json={}, headers=colleague.headers)
            assert response.status_code == 404, (roles, path)
    # Its code is the way in, and then the dojo is visible, but still not theirs to run.
    guest = mint.caller(maria.tenant_id, roles=("OWNER",))
    assert (
        await client.post("/v1/dojos/join", json={"joinCode": private["joinCode"]}, headers=guest.headers)
    ).status_code == 200
    assert (
        await client.post(f"/v1/dojos/{private['dojoId']}/start", headers=guest.headers)
    ).status_code == 403


async def test_rooms_of_another_tenant_are_refused_as_missing(client: DojoClient, mint: TokenMint) -> None:
    victim = mint.caller()
    dojo = await create_dojo(client, victim, isPrivate=False)
    await start_dojo(client, victim, dojo["dojoId"])
    now = datetime.now(UTC)
    for roles in ROLES:
        intruder = mint.caller(roles=roles)
        claims = TokenClaims(
            user_id=victim.user_id,  # even with the victim's user id
            tenant_id=intruder.tenant_id,
            roles=roles,
            jti="x",
            expires_at=now + timedelta(minutes=5),
            issued_at=now,
        )
        with pytest.raises(AccessRefused) as refused:
            await client.runtime.room_access.admit(claims, uuid.UUID(dojo["dojoId"]))
        assert (refused.value.code, refused.value.reason) == (4404, "dojo-not-found")


async def test_tokens_are_required_and_checked(
    client: DojoClient, mint: TokenMint, settings: Settings
) -> None:
    for method, path in (
        ("GET", "/v1/dojos"),
        ("POST", "/v1/dojos"),
        ("POST", "/v1/dojos/join"),
        ("GET", f"/v1/dojos/{uuid.uuid4()}"),
    ):
        anonymous = await client.request(method, path)
        assert anonymous.status_code == 401, path
        assert anonymous.headers["content-type"].startswith("application/problem+json")
    forged = TokenMint(mint.settings).caller()
    assert (await client.get("/v1/dojos", headers=forged.headers)).status_code == 401
    roleless = mint.caller(roles=())
    assert (await client.post("/v1/dojos", json={}, headers=roleless.headers)).status_code == 403

    revoked = mint.caller()
    assert (await client.get("/v1/dojos", headers=revoked.headers)).status_code == 200
    valkey = create_valkey(settings)
    try:
        await ValkeyDenylist(valkey).revoke(revoked.jti, ttl=60)
    finally:
        await valkey.aclose()
    refused = await client.get("/v1/dojos", headers=revoked.in_language("en"))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The access token has been revoked."


@pytest.fixture
async def app_role(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(settings.database_url("realtime"))
    try:
        yield connection
    finally:
        await connection.close()


async def _seed_every_table(client: DojoClient, caller: Caller) -> uuid.UUID:
    """A dojo with a participant, a snapshot and a chat message, all in the caller's tenant."""
    dojo = await create_dojo(client, caller)
    dojo_id = uuid.UUID(dojo["dojoId"])
    async with client.runtime.work(caller.tenant_id) as work:
        await repository.insert_code_snapshot(
            work.connection,
            tenant_id=caller.tenant_id,
            dojo_id=dojo_id,
            code="x = 1",
            kind="PERIODIC",
            timestamp=datetime.now(UTC),
        )
        await work.connection.execute(
            "INSERT INTO dojo_chat_messages (tenant_id, dojo_id, user_id, message) VALUES ($1, $2, $3, 'oi')",
            caller.tenant_id,
            dojo_id,
            caller.user_id,
        )
    return dojo_id


TABLES = ("dojos", "dojo_participants", "dojo_code_snapshots", "dojo_chat_messages")


async def test_the_application_role_sees_only_the_transactions_tenant(
    client: DojoClient, mint: TokenMint, app_role: asyncpg.Connection
) -> None:
    first, second = mint.caller(), mint.caller()
    mine = await _seed_every_table(client, first)
    theirs = await _seed_every_table(client, second)

    assert await app_role.fetchval("SELECT current_user") == "dojo_app"
    for table in TABLES:
        assert await app_role.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # noqa: S608
    async with app_role.transaction():
        await app_role.execute("SELECT set_config('app.tenant_id', $1, true)", str(first.tenant_id))
        for table in TABLES:
            tenants = {row["tenant_id"] for row in await app_role.fetch(f"SELECT tenant_id FROM {table}")}  # noqa: S608
            assert tenants == {first.tenant_id}, table
        dojo_ids = {row["dojo_id"] for row in await app_role.fetch("SELECT dojo_id FROM dojos")}
        assert mine in dojo_ids
        assert theirs not in dojo_ids

    async def as_first_tenant(statement: str, *args: Any) -> str:
        async with app_role.transaction():
            await app_role.execute("SELECT set_config('app.tenant_id', $1, true)", str(first.tenant_id))
            result: str = await app_role.execute(statement, *args)
            return result

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_first_tenant(
            "INSERT INTO dojos (tenant_id, creator_id, name, language, join_code)"
            " VALUES ($1, $2, 'x', 'python', $3)",
            second.tenant_id,
            second.user_id,
            "ZZZZZZZZZZZZ",
        )
    with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.ForeignKeyViolationError)):
        await as_first_tenant(
            "INSERT INTO dojo_participants (tenant_id, dojo_id, user_id, display_name)"
            " VALUES ($1, $2, $3, 'x')",
            first.tenant_id,
            theirs,
            first.user_id,
        )
    with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.ForeignKeyViolationError)):
        await as_first_tenant(
            "INSERT INTO dojo_chat_messages (tenant_id, dojo_id, user_id, message) VALUES ($1, $2, $3, 'x')",
            first.tenant_id,
            theirs,
            first.user_id,
        )
    for table in TABLES:
        update = f"UPDATE {table} SET tenant_id = tenant_id WHERE dojo_id = $1"  # noqa: S608 - fixed names
        delete = f"DELETE FROM {table} WHERE dojo_id = $1"  # noqa: S608 - fixed names
        assert await as_first_tenant(update, theirs) == "UPDATE 0", table
        assert await as_first_tenant(delete, theirs) == "DELETE 0", table
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_first_tenant("UPDATE dojos SET tenant_id = $1 WHERE dojo_id = $2", second.tenant_id, mine)
    async with client.runtime.work(second.tenant_id) as work:
        assert await repository.fetch_dojo(work.connection, theirs) is not None
        assert len(await repository.all_snapshots(work.connection, second.tenant_id, theirs)) == 1
