"""Tenant isolation and ownership of report requests, through the API and straight at the database.

The app connects as ``content_app`` (no ownership, no BYPASSRLS), so every request here runs
under forced row-level security; the direct queries use that same role.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from api.common.auth import ValkeyDenylist
from api.common.settings import Settings
from api.common.valkey import create_valkey
from api.content import repository
from tests.integration.content.support import Caller, ContentClient, TokenMint, create_report

pytestmark = [pytest.mark.integration, pytest.mark.security]


async def _complete(client: ContentClient, owner: Caller, report_id: str) -> None:
    key = f"tenants/{owner.tenant_id}/users/{owner.user_id}/reports/{report_id}.pdf"
    await client.runtime.storage.put(key, b"%PDF-1.7 secret")
    async with client.runtime.work(owner.tenant_id) as work:
        await repository.mark_completed(
            work.connection,
            uuid.UUID(report_id),
            result_key=key,
            media_type="application/pdf",
            size=15,
            poc_count=1,
        )


async def _probe(client: ContentClient, intruder: Caller, report_id: str) -> None:
    base = f"/v1/reports/{report_id}"
    for method, path in (("GET", base), ("GET", f"{base}/download"), ("POST", f"{base}/cancel")):
        response = await client.request(method, path, headers=intruder.headers)
        assert response.status_code == 404, (intruder.roles, method, path, response.text)
        assert response.json()["code"] == "report-not-found"
    listed = await client.get("/v1/reports", headers=intruder.headers)
    assert report_id not in [item["id"] for item in listed.json()["items"]]


async def test_another_tenants_requests_do_not_exist(client: ContentClient, mint: TokenMint) -> None:
    victim = mint.caller(roles=("OWNER",))
    completed = await create_report(client, victim)
    await _complete(client, victim, completed["id"])
    pending = await create_report(client, victim)
    for roles in (("MEMBER",), ("ADMIN",), ("OWNER",), ("SUPERADMIN",)):
        intruder = mint.caller(roles=roles)
        for report in (completed, pending):
            await _probe(client, intruder, report["id"])
        assert (await client.get("/v1/reports", headers=intruder.headers)).json()["totalItems"] == 0
    untouched = (await client.get(f"/v1/reports/{pending['id']}", headers=victim.headers)).json()
    assert untouched["status"] == "PENDING"
    assert untouched["cancelRequestedAt"] is None


async def test_another_users_requests_do_not_exist_even_for_managers(
    client: ContentClient, mint: TokenMint
) -> None:
    owner = mint.caller()
    report = await create_report(client, owner)
    await _complete(client, owner, report["id"])
    for roles in (("MEMBER",), ("ADMIN",), ("OWNER",)):
        await _probe(client, mint.caller(owner.tenant_id, roles=roles), report["id"])
    assert (
        await client.get(f"/v1/reports/{report['id']}/download", headers=owner.headers)
    ).status_code == 303


async def test_tokens_are_required_and_checked(
    client: ContentClient, mint: TokenMint, settings: Settings
) -> None:
    for method, path in (
        ("GET", "/v1/reports"),
        ("POST", "/v1/reports"),
        ("GET", f"/v1/reports/{uuid.uuid4()}"),
    ):
        anonymous = await client.request(method, path)
        assert anonymous.status_code == 401, path
        assert anonymous.headers["content-type"].startswith("application/problem+json")
    forged = TokenMint(mint.settings).caller()
    assert (await client.get("/v1/reports", headers=forged.headers)).status_code == 401
    roleless = mint.caller(roles=())
    assert (await client.post("/v1/reports", json={}, headers=roleless.headers)).status_code == 403

    revoked = mint.caller()
    assert (await client.get("/v1/reports", headers=revoked.headers)).status_code == 200
    valkey = create_valkey(settings)
    try:
        await ValkeyDenylist(valkey).revoke(revoked.jti, ttl=60)  # what identity's logout does
    finally:
        await valkey.aclose()
    refused = await client.get("/v1/reports", headers=revoked.with_headers(Accept_Language="en"))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The access token has been revoked."
    assert (await client.post("/v1/reports", json={}, headers=revoked.headers)).status_code == 401


@pytest.fixture
async def app_role(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(settings.database_url("content"))
    try:
        yield connection
    finally:
        await connection.close()


async def test_the_application_role_sees_only_the_transactions_tenant(
    client: ContentClient, mint: TokenMint, app_role: asyncpg.Connection
) -> None:
    first, second = mint.caller(), mint.caller()
    mine = await create_report(client, first)
    theirs = await create_report(client, second)
    async with client.runtime.work(second.tenant_id) as work:
        await repository.record_selected_pocs(
            work.connection, second.tenant_id, uuid.UUID(theirs["id"]), [uuid.uuid4()]
        )

    for table in ("content_requests", "content_request_pocs"):
        assert await app_role.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # noqa: S608
    async with app_role.transaction():
        await app_role.execute("SELECT set_config('app.tenant_id', $1, true)", str(first.tenant_id))
        visible = await app_role.fetch("SELECT request_id, tenant_id FROM content_requests")
        assert await app_role.fetchval("SELECT count(*) FROM content_request_pocs") == 0
    assert [(str(row["request_id"]), row["tenant_id"]) for row in visible] == [(mine["id"], first.tenant_id)]

    async def as_first_tenant(statement: str, *args: Any) -> str:
        async with app_role.transaction():
            await app_role.execute("SELECT set_config('app.tenant_id', $1, true)", str(first.tenant_id))
            result: str = await app_role.execute(statement, *args)
            return result

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_first_tenant(
            "INSERT INTO content_requests (tenant_id, user_id, type, title, locale, format, workflow_id)"
            " VALUES ($1, $2, 'REPORT', 'x', 'en', 'pdf', $3)",
            second.tenant_id,
            second.user_id,
            f"report/{second.tenant_id}/{uuid.uuid4()}",
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_first_tenant("UPDATE content_requests SET tenant_id = $1", second.tenant_id)
    with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.ForeignKeyViolationError)):
        await as_first_tenant(
            "INSERT INTO content_request_pocs (tenant_id, request_id, poc_id, sequence_order)"
            " VALUES ($1, $2, $3, 1)",
            first.tenant_id,
            uuid.UUID(theirs["id"]),
            uuid.uuid4(),
        )
    assert (
        await as_first_tenant(
            "UPDATE content_requests SET status = 'CANCELLED' WHERE request_id = $1", uuid.UUID(theirs["id"])
        )
        == "UPDATE 0"
    )
    assert (
        await as_first_tenant("DELETE FROM content_requests WHERE request_id = $1", uuid.UUID(theirs["id"]))
        == "DELETE 0"
    )
    theirs_now = (await client.get(f"/v1/reports/{theirs['id']}", headers=second.headers)).json()
    assert theirs_now["status"] == "PENDING"
