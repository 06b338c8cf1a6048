"""The platform SUPERADMIN manages tenants; nobody else can."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from api.common.settings import Settings
from api.identity.service import create_superadmin
from tests.integration.identity.support import (
    DEFAULT_PASSWORD,
    IdentityClient,
    bearer,
    login,
    seed_tenant,
    unique_slug,
)

pytestmark = pytest.mark.integration


async def _superadmin(client: IdentityClient, settings: Settings) -> dict[str, Any]:
    email = f"root-{uuid.uuid4().hex[:8]}@mrbill.example.com"
    user = await create_superadmin(settings, email, DEFAULT_PASSWORD, "Root Operator")
    assert user.role == "SUPERADMIN"
    return await login(client, "platform", email)


async def test_create_superadmin_is_idempotent(client: IdentityClient, settings: Settings) -> None:
    email = f"root-{uuid.uuid4().hex[:8]}@mrbill.example.com"
    first = await create_superadmin(settings, email, DEFAULT_PASSWORD, "Root")
    second = await create_superadmin(settings, email, "another long passphrase", "Root Again")
    assert first.user_id == second.user_id
    assert second.full_name == "Root Again"
    await login(client, "platform", email, "another long passphrase")


async def test_superadmin_creates_gets_updates_and_lists_tenants(
    client: IdentityClient, settings: Settings
) -> None:
    root = await _superadmin(client, settings)
    slug = unique_slug("acme")

    created = await client.post(
        "/v1/tenants",
        json={"name": "Acme Ltda", "slug": slug, "subscriptionPlan": "PRO", "settings": {"color": "#ff0000"}},
        headers=bearer(root),
    )

    assert created.status_code == 201, created.text
    tenant = created.json()
    assert created.headers["Location"] == f"/v1/tenants/{tenant['tenantId']}"
    assert (tenant["slug"], tenant["status"], tenant["subscriptionPlan"]) == (slug, "ACTIVE", "PRO")
    assert tenant["domain"] == f"{slug}.mrbill.local"
    assert tenant["settings"] == {"color": "#ff0000"}
    fetched = await client.get(f"/v1/tenants/{tenant['tenantId']}", headers=bearer(root))
    assert fetched.json() == tenant
    updated = await client.patch(
        f"/v1/tenants/{tenant['tenantId']}",
        json={"name": "Acme S.A.", "subscriptionPlan": "FREE", "defaultLocale": "en"},
        headers=bearer(root),
    )
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["subscriptionPlan"], updated.json()["defaultLocale"]) == (
        "Acme S.A.",
        "FREE",
        "en",
    )
    assert updated.json()["settings"] == {"color": "#ff0000"}
    listed = await client.get(
        "/v1/tenants", params={"q": slug, "plan": "FREE", "status": "ACTIVE"}, headers=bearer(root)
    )
    assert [item["tenantId"] for item in listed.json()["items"]] == [tenant["tenantId"]]
    paged = await client.get("/v1/tenants", params={"pageSize": 1}, headers=bearer(root))
    assert paged.json()["totalItems"] >= 2
    assert len(paged.json()["items"]) == 1
    duplicate = await client.post("/v1/tenants", json={"name": "Again", "slug": slug}, headers=bearer(root))
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "slug-taken"


async def test_deactivating_a_tenant_locks_everyone_out(client: IdentityClient, settings: Settings) -> None:
    root = await _superadmin(client, settings)
    seeded = await seed_tenant(client)
    owner = await login(client, seeded.slug, seeded.owner.email)

    response = await client.post(f"/v1/tenants/{seeded.tenant_id}/deactivate", headers=bearer(root))

    assert response.status_code == 200
    assert response.json()["status"] == "INACTIVE"
    assert (await client.get("/v1/me", headers=bearer(owner))).status_code == 401
    assert (
        await client.post("/v1/auth/refresh", json={"refreshToken": owner["refreshToken"]})
    ).status_code == 401
    relogin = await client.post(
        "/v1/auth/login",
        json={"tenantSlug": seeded.slug, "email": seeded.owner.email, "password": DEFAULT_PASSWORD},
    )
    assert relogin.status_code == 401
    inactive = await client.get(
        "/v1/tenants", params={"status": "INACTIVE", "q": seeded.slug}, headers=bearer(root)
    )
    assert [item["slug"] for item in inactive.json()["items"]] == [seeded.slug]
    events = await client.get("/v1/audit-events", headers=bearer(root))
    assert events.status_code == 200  # the platform tenant's own log
    platform = await client.get("/v1/tenants", params={"q": "platform"}, headers=bearer(root))
    platform_id = next(item["tenantId"] for item in platform.json()["items"] if item["slug"] == "platform")
    assert (
        await client.post(f"/v1/tenants/{platform_id}/deactivate", headers=bearer(root))
    ).status_code == 403


async def test_tenant_routes_are_for_the_superadmin_only(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    owner = await login(client, seeded.slug, seeded.owner.email)

    for method, path in (
        ("GET", "/v1/tenants"),
        ("POST", "/v1/tenants"),
        ("GET", f"/v1/tenants/{seeded.tenant_id}"),
        ("PATCH", f"/v1/tenants/{seeded.tenant_id}"),
        ("POST", f"/v1/tenants/{seeded.tenant_id}/deactivate"),
    ):
        response = await client.request(
            method, path, json={"name": "x", "slug": "xyz"}, headers=bearer(owner)
        )
        assert response.status_code == 403, (method, path, response.text)
    anonymous = await client.get("/v1/tenants")
    assert anonymous.status_code == 401


async def test_invalid_tenants_are_refused(client: IdentityClient, settings: Settings) -> None:
    root = await _superadmin(client, settings)
    headers = {**bearer(root), "Accept-Language": "en"}
    reserved = await client.post("/v1/tenants", json={"name": "Admin", "slug": "admin"}, headers=headers)
    malformed = await client.post("/v1/tenants", json={"name": "Bad", "slug": "-Bad_Slug-"}, headers=headers)
    bad_plan = await client.post(
        "/v1/tenants",
        json={"name": "Gold", "slug": unique_slug(), "subscriptionPlan": "GOLD"},
        headers=headers,
    )
    unknown = await client.get(f"/v1/tenants/{uuid.uuid4()}", headers=headers)

    assert reserved.status_code == 422
    assert reserved.json()["errors"] == [{"field": "slug", "message": "This address is reserved."}]
    assert malformed.status_code == 422
    assert bad_plan.status_code == 422
    assert bad_plan.json()["errors"][0]["field"] == "subscriptionPlan"
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "tenant-not-found"


async def test_a_superadmin_manages_the_platform_tenants_users(
    client: IdentityClient, settings: Settings
) -> None:
    root = await _superadmin(client, settings)
    email = f"operator-{uuid.uuid4().hex[:8]}@mrbill.example.com"

    created = await client.post(
        "/v1/users",
        json={
            "email": email,
            "fullName": "Second Operator",
            "role": "ADMIN",
            "password": "operator passphrase!",
        },
        headers=bearer(root),
    )

    assert created.status_code == 201, created.text
    me = await client.get("/v1/me", headers=bearer(root))
    assert created.json()["tenantId"] == me.json()["tenantId"]
    operator = await login(client, "platform", email, "operator passphrase!")
    assert (await client.get("/v1/tenants", headers=bearer(operator))).status_code == 403
