"""Users of a tenant: created, listed, changed and deactivated by its OWNERs and ADMINs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.identity import audit
from tests.integration.identity.support import (
    DEFAULT_PASSWORD,
    IdentityClient,
    bearer,
    login,
    runtime_of,
    seed_tenant,
)

pytestmark = pytest.mark.integration


def _new_user(slug: str, name: str, role: str = "MEMBER", **extra: Any) -> dict[str, Any]:
    return {
        "email": f"{name}@{slug}.example.com",
        "fullName": name.title(),
        "role": role,
        "password": DEFAULT_PASSWORD,
        **extra,
    }


async def test_an_owner_creates_users_who_can_then_log_in(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    owner = await login(client, seeded.slug, seeded.owner.email)

    response = await client.post(
        "/v1/users", json=_new_user(seeded.slug, "ada", "ADMIN", locale="en"), headers=bearer(owner)
    )

    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"/v1/users/{created['userId']}"
    assert created["role"] == "ADMIN"
    assert created["status"] == "ACTIVE"
    assert created["locale"] == "en"
    assert created["tenantId"] == str(seeded.tenant_id)
    assert "password" not in created
    assert "passwordHash" not in created
    ada = await login(client, seeded.slug, created["email"])
    fetched = await client.get(f"/v1/users/{created['userId']}", headers=bearer(ada))
    assert fetched.json()["email"] == created["email"]
    assert fetched.json()["lastLoginAt"] is not None
    async with runtime_of(client).tenant_scope(seeded.tenant_id):
        events, _ = await audit.list_events(seeded.tenant_id, action="user_created", offset=0, limit=5)
    assert events[0].target == created["userId"]
    assert events[0].actor_user_id == seeded.owner.user_id


async def test_role_rules_for_creating_users(client: IdentityClient) -> None:
    seeded = await seed_tenant(client, members=(("ada", "ADMIN"), ("max", "MEMBER")))
    admin = await login(client, seeded.slug, seeded.users["ada"].email)
    member = await login(client, seeded.slug, seeded.users["max"].email)

    admin_makes_owner = await client.post(
        "/v1/users", json=_new_user(seeded.slug, "oscar", "OWNER"), headers=bearer(admin)
    )
    admin_makes_admin = await client.post(
        "/v1/users", json=_new_user(seeded.slug, "alan", "ADMIN"), headers=bearer(admin)
    )
    member_makes_member = await client.post(
        "/v1/users", json=_new_user(seeded.slug, "mo", "MEMBER"), headers=bearer(member)
    )
    anyone_makes_superadmin = await client.post(
        "/v1/users", json=_new_user(seeded.slug, "sue", "SUPERADMIN"), headers=bearer(admin)
    )

    assert admin_makes_owner.status_code == 403
    assert admin_makes_owner.json()["code"] == "role-not-allowed"
    assert admin_makes_admin.status_code == 201
    assert member_makes_member.status_code == 403
    assert anyone_makes_superadmin.status_code == 422


async def test_duplicate_emails_and_invalid_users_are_refused(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    owner = await login(client, seeded.slug, seeded.owner.email)
    headers = {**bearer(owner), "Accept-Language": "en"}

    duplicate = await client.post(
        "/v1/users",
        json=_new_user(seeded.slug, "owner") | {"email": seeded.owner.email.upper()},
        headers=headers,
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "email-taken"

    invalid = await client.post(
        "/v1/users",
        json={"email": "not-an-email", "fullName": "X", "password": "short", "locale": "pt_BR"},
        headers=headers,
    )
    assert invalid.status_code == 422
    fields = {error["field"]: error["message"] for error in invalid.json()["errors"]}
    assert fields == {
        "email": "Must be a valid e-mail address.",
        "password": "Must have at least 12 characters.",
    }
    listed = await client.get("/v1/users", headers=headers)
    assert listed.json()["totalItems"] == 1


async def test_the_plan_caps_the_number_of_users(client: IdentityClient) -> None:
    seeded = await seed_tenant(client, plan="FREE")
    owner = await login(client, seeded.slug, seeded.owner.email)
    limit = runtime_of(client).settings.plans["FREE"].max_users
    for index in range(limit - 1):
        response = await client.post(
            "/v1/users", json=_new_user(seeded.slug, f"u{index}"), headers=bearer(owner)
        )
        assert response.status_code == 201

    over = await client.post("/v1/users", json=_new_user(seeded.slug, "one-too-many"), headers=bearer(owner))

    assert over.status_code == 409
    assert over.json()["code"] == "user-quota-exceeded"


async def test_listing_users_pages_and_filters(client: IdentityClient) -> None:
    seeded = await seed_tenant(
        client,
        members=(
            ("ana", "ADMIN"),
            ("bia", "MEMBER"),
            ("caio", "MEMBER"),
            ("duda", "MEMBER"),
            ("edu", "MEMBER"),
        ),
    )
    owner = await login(client, seeded.slug, seeded.owner.email)

    first = await client.get("/v1/users", params={"page": 1, "pageSize": 4}, headers=bearer(owner))
    second = await client.get("/v1/users", params={"page": 2, "pageSize": 4}, headers=bearer(owner))
    members = await client.get("/v1/users", params={"role": "MEMBER"}, headers=bearer(owner))
    search = await client.get("/v1/users", params={"q": "CAI"}, headers=bearer(owner))
    none = await client.get("/v1/users", params={"q": "%"}, headers=bearer(owner))

    assert first.status_code == 200
    page = first.json()
    assert (page["totalItems"], page["page"], page["pageSize"], page["totalPages"]) == (6, 1, 4, 2)
    assert len(page["items"]) == 4
    assert len(second.json()["items"]) == 2
    all_ids = {user["userId"] for user in page["items"] + second.json()["items"]}
    assert len(all_ids) == 6
    assert {user["fullName"] for user in members.json()["items"]} == {"Bia", "Caio", "Duda", "Edu"}
    assert [user["fullName"] for user in search.json()["items"]] == ["Caio"]
    assert none.json()["totalItems"] == 0


async def test_changing_a_role_follows_the_rules_and_is_audited(client: IdentityClient) -> None:
    seeded = await seed_tenant(client, members=(("ana", "ADMIN"), ("bia", "MEMBER")))
    owner = await login(client, seeded.slug, seeded.owner.email)
    admin = await login(client, seeded.slug, seeded.users["ana"].email)
    bia = seeded.users["bia"]
    bia_tokens = await login(client, seeded.slug, bia.email)

    promoted = await client.patch(f"/v1/users/{bia.user_id}", json={"role": "ADMIN"}, headers=bearer(admin))
    admin_touches_owner = await client.patch(
        f"/v1/users/{seeded.owner.user_id}", json={"fullName": "Hacked"}, headers=bearer(admin)
    )
    admin_makes_owner = await client.patch(
        f"/v1/users/{bia.user_id}", json={"role": "OWNER"}, headers=bearer(admin)
    )
    last_owner = await client.patch(
        f"/v1/users/{seeded.owner.user_id}", json={"role": "MEMBER"}, headers=bearer(owner)
    )

    assert promoted.status_code == 200
    assert promoted.json()["role"] == "ADMIN"
    assert admin_touches_owner.status_code == 403
    assert admin_makes_owner.status_code == 403
    assert last_owner.status_code == 409
    assert last_owner.json()["code"] == "last-owner"
    # Tokens carry roles: the old one stops at once, a refresh brings the new role.
    assert (await client.get("/v1/me", headers=bearer(bia_tokens))).status_code == 401
    refreshed = await client.post("/v1/auth/refresh", json={"refreshToken": bia_tokens["refreshToken"]})
    assert refreshed.status_code == 200
    audit_page = await client.get(
        "/v1/audit-events", params={"action": "role_changed"}, headers=bearer(owner)
    )
    assert audit_page.status_code == 200
    [event] = audit_page.json()["items"]
    assert event["details"] == {"from": "MEMBER", "to": "ADMIN"}
    assert event["actorUserId"] == str(seeded.users["ana"].user_id)
    assert event["target"] == str(bia.user_id)


async def test_deactivating_a_user_ends_their_sessions(client: IdentityClient) -> None:
    seeded = await seed_tenant(client, members=(("bia", "MEMBER"),))
    owner = await login(client, seeded.slug, seeded.owner.email)
    bia = await login(client, seeded.slug, seeded.users["bia"].email)

    response = await client.post(f"/v1/users/{seeded.users['bia'].user_id}/deactivate", headers=bearer(owner))

    assert response.status_code == 200
    assert response.json()["status"] == "INACTIVE"
    assert (await client.get("/v1/me", headers=bearer(bia))).status_code == 401
    assert (
        await client.post("/v1/auth/refresh", json={"refreshToken": bia["refreshToken"]})
    ).status_code == 401
    login_again = await client.post(
        "/v1/auth/login",
        json={"tenantSlug": seeded.slug, "email": seeded.users["bia"].email, "password": DEFAULT_PASSWORD},
    )
    assert login_again.status_code == 401
    role_change = await client.patch(
        f"/v1/users/{seeded.users['bia'].user_id}", json={"role": "ADMIN"}, headers=bearer(owner)
    )
    assert role_change.status_code == 409
    inactive = await client.get("/v1/users", params={"status": "INACTIVE"}, headers=bearer(owner))
    assert [user["fullName"] for user in inactive.json()["items"]] == ["Bia"]


async def test_nobody_deactivates_themselves_or_an_owner_they_do_not_rank(client: IdentityClient) -> None:
    seeded = await seed_tenant(client, members=(("ana", "ADMIN"),))
    owner = await login(client, seeded.slug, seeded.owner.email)
    admin = await login(client, seeded.slug, seeded.users["ana"].email)

    myself = await client.post(f"/v1/users/{seeded.owner.user_id}/deactivate", headers=bearer(owner))
    admin_vs_owner = await client.post(f"/v1/users/{seeded.owner.user_id}/deactivate", headers=bearer(admin))

    assert myself.status_code == 409
    assert myself.json()["code"] == "self-deactivation"
    assert admin_vs_owner.status_code == 403


async def test_audit_events_are_for_managers_and_filtered_by_action(client: IdentityClient) -> None:
    seeded = await seed_tenant(client, members=(("bia", "MEMBER"),))
    owner = await login(client, seeded.slug, seeded.owner.email)
    member = await login(client, seeded.slug, seeded.users["bia"].email)

    everything = await client.get("/v1/audit-events", headers=bearer(owner))
    logins = await client.get(
        "/v1/audit-events", params={"action": "login_succeeded", "pageSize": 1}, headers=bearer(owner)
    )
    forbidden = await client.get("/v1/audit-events", headers=bearer(member))
    unknown_action = await client.get("/v1/audit-events", params={"action": "coffee"}, headers=bearer(owner))

    assert everything.status_code == 200
    actions = [event["action"] for event in everything.json()["items"]]
    assert actions[:2] == ["login_succeeded", "login_succeeded"]
    assert "tenant_created" in actions
    assert logins.json()["totalItems"] == 2
    assert logins.json()["totalPages"] == 2
    assert len(logins.json()["items"]) == 1
    assert forbidden.status_code == 403
    assert unknown_action.status_code == 400


async def test_racing_creations_cannot_overshoot_the_plan(client: IdentityClient) -> None:
    seeded = await seed_tenant(
        client, plan="FREE", members=(("a1", "MEMBER"), ("a2", "MEMBER"), ("a3", "MEMBER"))
    )
    owner = await login(client, seeded.slug, seeded.owner.email)

    responses = await asyncio.gather(
        *(
            client.post("/v1/users", json=_new_user(seeded.slug, f"racer{index}"), headers=bearer(owner))
            for index in range(3)
        )
    )

    assert sorted(response.status_code for response in responses) == [201, 409, 409]
    listed = await client.get("/v1/users", headers=bearer(owner))
    assert listed.json()["totalItems"] == runtime_of(client).settings.plans["FREE"].max_users
