"""Tenant isolation and POC visibility, through the API and straight at the database.

The app connects as ``catalog_app`` (no ownership, no BYPASSRLS), so every request here runs
under forced row-level security; the direct queries use that same role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from api.common.settings import Settings
from tests.integration.catalog.support import (
    Caller,
    TokenMint,
    create_poc,
    file_path,
    image_bytes,
    runtime_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.security]

READS = (("GET", ""), ("GET", "/tags"), ("GET", "/frameworks"))
WRITES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("PATCH", "", {"json": {"name": "Tomada"}}),
    ("DELETE", "", {}),
    ("POST", "/restore", {}),
    ("POST", "/tags", {"json": {"tag": "invasão"}}),
    ("DELETE", "/tags/api", {}),
    (
        "PUT",
        "/thumbnail",
        {"content": image_bytes("PNG", (64, 64)), "headers": {"Content-Type": "image/png"}},
    ),
    ("DELETE", "/thumbnail", {}),
)


async def _call(
    client: AsyncTestClient[Any],
    caller: Caller,
    method: str,
    path: str,
    options: dict[str, Any] | None = None,
) -> Any:
    options = dict(options or {})
    headers = {**caller.headers, **options.pop("headers", {})}
    return await client.request(method, path, headers=headers, **options)


async def _poc_with_thumbnail(
    client: AsyncTestClient[Any], owner: Caller, **overrides: Any
) -> dict[str, Any]:
    poc = await create_poc(client, owner, tags=["api"], **overrides)
    uploaded = await client.put(
        f"/v1/pocs/{poc['pocId']}/thumbnail",
        content=image_bytes("PNG", (64, 64)),
        headers={**owner.headers, "Content-Type": "image/png"},
    )
    assert uploaded.status_code == 200, uploaded.text
    result: dict[str, Any] = uploaded.json()
    return result


async def test_another_tenants_pocs_do_not_exist(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    victim = mint.caller(roles=("OWNER",))
    poc = await _poc_with_thumbnail(client, victim, isPublic=True)
    for roles in (("MEMBER",), ("OWNER",), ("ADMIN",)):
        intruder = mint.caller(roles=roles)
        base = f"/v1/pocs/{poc['pocId']}"
        for method, suffix in READS:
            response = await _call(client, intruder, method, base + suffix)
            assert response.status_code == 404, (roles, method, suffix, response.text)
            assert response.json()["code"] == "poc-not-found"
        for method, suffix, options in WRITES:
            response = await _call(client, intruder, method, base + suffix, options)
            assert response.status_code == 404, (roles, method, suffix, response.text)
        listed = (
            await client.get("/v1/pocs", params={"visibility": "public"}, headers=intruder.headers)
        ).json()
        assert listed["totalItems"] == 0
        assert (await client.get("/v1/tags/popular", headers=intruder.headers)).json() == []
        assert (
            await client.get("/v1/tags/suggestions", params={"prefix": "a"}, headers=intruder.headers)
        ).json() == []
        assert (await client.get("/v1/frameworks/popular", headers=intruder.headers)).json() == []

    unchanged = (await client.get(f"/v1/pocs/{poc['pocId']}", headers=victim.headers)).json()
    assert unchanged == {**poc, "thumbnailUrl": unchanged["thumbnailUrl"]}
    assert unchanged["deletedAt"] is None
    assert unchanged["tags"] == ["api"]


async def test_private_pocs_exist_only_for_their_owner(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    owner = mint.caller()
    poc = await _poc_with_thumbnail(client, owner, isPublic=False)
    base = f"/v1/pocs/{poc['pocId']}"
    for roles in (("MEMBER",), ("ADMIN",), ("OWNER",)):
        colleague = mint.caller(owner.tenant_id, roles=roles)
        for method, suffix in READS:
            assert (await _call(client, colleague, method, base + suffix)).status_code == 404, (roles, suffix)
        for method, suffix, options in WRITES:
            response = await _call(client, colleague, method, base + suffix, options)
            assert response.status_code == 404, (roles, method, suffix, response.text)
        listed = (await client.get("/v1/pocs", headers=colleague.headers)).json()
        assert poc["pocId"] not in [item["pocId"] for item in listed["items"]]
        owner_filter = await client.get(
            "/v1/pocs", params={"owner": str(owner.user_id)}, headers=colleague.headers
        )
        assert owner_filter.json()["totalItems"] == 0
    assert (await client.get(base, headers=owner.headers)).json()["version"] == poc["version"]


async def test_public_pocs_are_read_by_all_and_changed_by_owner_or_managers(
    client: AsyncTestClient[Any], mint: TokenMint
) -> None:
    owner = mint.caller()
    poc = await create_poc(client, owner, isPublic=True, tags=["api"])
    base = f"/v1/pocs/{poc['pocId']}"
    member = mint.caller(owner.tenant_id)
    assert (await client.get(base, headers=member.headers)).status_code == 200
    assert (await client.get(f"{base}/tags", headers=member.headers)).json() == ["api"]
    for method, suffix, options in WRITES:
        response = await _call(client, member, method, base + suffix, options)
        assert response.status_code == 403, (method, suffix, response.text)
        assert response.json()["code"] == "poc-edit-forbidden"

    admin = mint.caller(owner.tenant_id, roles=("ADMIN",))
    renamed = await client.patch(base, json={"name": "Moderada"}, headers=admin.headers)
    assert renamed.status_code == 200
    assert renamed.json()["userId"] == str(owner.user_id)
    assert (await client.delete(base, headers=admin.headers)).status_code == 204
    assert (await client.post(f"{base}/restore", headers=admin.headers)).status_code == 200


async def test_tokens_are_required_and_checked(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    anonymous = await client.get("/v1/pocs")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    forged_mint = TokenMint(mint.settings)
    forged = forged_mint.caller()
    assert (await client.get("/v1/pocs", headers=forged.headers)).status_code == 401
    roleless = mint.caller(roles=())
    assert (await client.get("/v1/pocs", headers=roleless.headers)).status_code == 403
    assert (await client.get("/v1/pocs/not-a-uuid", headers=mint.caller().headers)).status_code in (400, 404)


async def test_file_links_only_serve_signed_poc_thumbnails(
    client: AsyncTestClient[Any], mint: TokenMint
) -> None:
    storage = runtime_of(client).storage
    await storage.put("tenants/secret/branding.json", b'{"secret": true}')
    signed_elsewhere = storage.sign_url("tenants/secret/branding.json", 60)
    assert (await client.get(file_path(signed_elsewhere))).status_code == 403
    traversal = await client.get("/v1/files/../keys/storage-signing.key?expires=9999999999&signature=x")
    assert traversal.status_code in (403, 404)


@pytest.fixture
async def app_role(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(settings.database_url("catalog"))
    try:
        yield connection
    finally:
        await connection.close()


async def test_the_application_role_sees_only_the_transactions_tenant(
    client: AsyncTestClient[Any], mint: TokenMint, app_role: asyncpg.Connection
) -> None:
    first, second = mint.caller(), mint.caller()
    await create_poc(client, first, tags=["a"], frameworks=["x"])
    await create_poc(client, second, tags=["b"], frameworks=["y"])

    for table in ("pocs", "poc_tags", "poc_frameworks"):
        assert await app_role.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # noqa: S608
        async with app_role.transaction():
            await app_role.execute("SELECT set_config('app.tenant_id', $1, true)", str(first.tenant_id))
            tenants = await app_role.fetch(f"SELECT DISTINCT tenant_id FROM {table}")  # noqa: S608
        assert [row["tenant_id"] for row in tenants] == [first.tenant_id], table

    async def as_first_tenant(statement: str, *args: Any) -> None:
        async with app_role.transaction():
            await app_role.execute("SELECT set_config('app.tenant_id', $1, true)", str(first.tenant_id))
            await app_role.execute(statement, *args)

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_first_tenant(
            "INSERT INTO pocs (tenant_id, user_id, name, repository_url) VALUES ($1, $2, 'x', 'https://x.y')",
            second.tenant_id,
            second.user_id,
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_first_tenant("UPDATE pocs SET tenant_id = $1", second.tenant_id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_first_tenant(
            "INSERT INTO poc_tags (tenant_id, poc_id, tag, display)"
            " SELECT $1, poc_id, 'z', 'z' FROM pocs LIMIT 1",
            second.tenant_id,
        )
    async with app_role.transaction():
        await app_role.execute("SELECT set_config('app.tenant_id', $1, true)", str(second.tenant_id))
        assert await app_role.fetchval("SELECT count(*) FROM pocs") == 1
