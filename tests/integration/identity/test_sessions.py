"""Refresh-token rotation, reuse detection, logout, password change and my sessions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.common.settings import Settings
from api.identity import audit, repository
from api.identity.tokens import hash_refresh_token
from tests.integration.identity.support import (
    DEFAULT_PASSWORD,
    IdentityClient,
    bearer,
    identity_settings,
    login,
    running_client,
    runtime_of,
    seed_tenant,
)

pytestmark = pytest.mark.integration

NEW_PASSWORD = "a brand new passphrase 2026"


async def _refresh(client: IdentityClient, refresh_token: str) -> Any:
    return await client.post("/v1/auth/refresh", json={"refreshToken": refresh_token})


async def test_refresh_rotates_the_token_and_spends_the_old_one(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    first = await login(client, seeded.slug, seeded.owner.email)

    response = await _refresh(client, first["refreshToken"])

    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert (await client.get("/v1/me", headers=bearer(second))).status_code == 200
    runtime = runtime_of(client)
    async with runtime.tenant_scope(seeded.tenant_id):
        old = await repository.lock_refresh_token(seeded.tenant_id, hash_refresh_token(first["refreshToken"]))
        new = await repository.lock_refresh_token(
            seeded.tenant_id, hash_refresh_token(second["refreshToken"])
        )
    assert old is not None
    assert new is not None
    assert old.rotated_at is not None
    assert old.replaced_by == new.token_id
    assert old.session_id == new.session_id
    assert new.rotated_at is None


async def test_racing_refreshes_within_the_grace_period_both_succeed(client: IdentityClient) -> None:
    """Two tabs refreshing with the same token at once: neither loses its session."""
    seeded = await seed_tenant(client)
    tokens = await login(client, seeded.slug, seeded.owner.email)

    first, second = await asyncio.gather(
        _refresh(client, tokens["refreshToken"]), _refresh(client, tokens["refreshToken"])
    )

    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert first.json()["refreshToken"] != second.json()["refreshToken"]
    for pair in (first.json(), second.json()):
        assert (await client.get("/v1/me", headers=bearer(pair))).status_code == 200
        assert (await _refresh(client, pair["refreshToken"])).status_code == 200


async def test_reuse_after_the_grace_period_revokes_the_whole_family(stack_settings: Settings) -> None:
    settings = identity_settings(stack_settings, refresh_reuse_grace_seconds=0)
    async with running_client(settings) as client:
        seeded = await seed_tenant(client)
        stolen = await login(client, seeded.slug, seeded.owner.email)
        rotated = (await _refresh(client, stolen["refreshToken"])).json()
        await asyncio.sleep(0.01)

        replay = await _refresh(client, stolen["refreshToken"])

        assert replay.status_code == 401
        assert replay.json()["code"] == "refresh-token-reused"
        # The legitimate holder's newer token and access token die with the family.
        assert (await _refresh(client, rotated["refreshToken"])).status_code == 401
        assert (await client.get("/v1/me", headers=bearer(rotated))).status_code == 401
        runtime = runtime_of(client)
        async with runtime.tenant_scope(seeded.tenant_id):
            events, _ = await audit.list_events(seeded.tenant_id, action="refresh_reuse", offset=0, limit=10)
            sessions = await repository.list_active_sessions(
                seeded.tenant_id, seeded.owner.user_id, seeded.owner.record.created_at
            )
        assert len(events) == 1
        assert events[0].actor_user_id == seeded.owner.user_id
        assert events[0].details["sessionId"] == str(events[0].target)
        assert sessions == []


async def test_unknown_expired_or_malformed_refresh_tokens_are_refused(client: IdentityClient) -> None:
    for token in ("x", "not-a-real-token-" * 3, "A" * 43):
        response = await _refresh(client, token)
        assert response.status_code == 401
        assert response.json()["code"] == "invalid-refresh-token"
    empty = await client.post("/v1/auth/refresh", json={"refreshToken": ""})
    assert empty.status_code == 422
    missing = await client.post("/v1/auth/refresh", json={})
    assert missing.status_code == 422


async def test_logout_denylists_the_access_token_and_ends_the_refresh_family(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    tokens = await login(client, seeded.slug, seeded.owner.email)
    other_device = await login(client, seeded.slug, seeded.owner.email)

    response = await client.post("/v1/auth/logout", headers=bearer(tokens))

    assert response.status_code == 204
    after = await client.get("/v1/me", headers={**bearer(tokens), "Accept-Language": "en"})
    assert after.status_code == 401
    assert after.json()["detail"] == "The access token has been revoked."
    assert (await _refresh(client, tokens["refreshToken"])).status_code == 401
    # Only that session ended.
    assert (await client.get("/v1/me", headers=bearer(other_device))).status_code == 200
    validated = await client.post("/v1/auth/validate", json={"token": tokens["accessToken"]})
    assert validated.json() == {
        "valid": False,
        "userId": None,
        "tenantId": None,
        "roles": [],
        "expirationTime": None,
    }


async def test_change_password_ends_every_other_session(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    here = await login(client, seeded.slug, seeded.owner.email)
    elsewhere = await login(client, seeded.slug, seeded.owner.email)

    response = await client.post(
        "/v1/me/password",
        json={"currentPassword": DEFAULT_PASSWORD, "newPassword": NEW_PASSWORD},
        headers=bearer(here),
    )

    assert response.status_code == 204, response.text
    assert (await client.get("/v1/me", headers=bearer(elsewhere))).status_code == 401
    assert (await _refresh(client, elsewhere["refreshToken"])).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(here))).status_code == 200
    assert (await _refresh(client, here["refreshToken"])).status_code == 200
    old = await client.post(
        "/v1/auth/login",
        json={"tenantSlug": seeded.slug, "email": seeded.owner.email, "password": DEFAULT_PASSWORD},
    )
    assert old.status_code == 401
    await login(client, seeded.slug, seeded.owner.email, NEW_PASSWORD)
    async with runtime_of(client).tenant_scope(seeded.tenant_id):
        events, _ = await audit.list_events(seeded.tenant_id, action="password_changed", offset=0, limit=5)
    assert [event.details["sessionsRevoked"] for event in events] == [1]


async def test_change_password_checks_the_current_one_and_the_policy(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    tokens = await login(client, seeded.slug, seeded.owner.email)
    headers = {**bearer(tokens), "Accept-Language": "en"}
    cases = [
        ({"currentPassword": "wrong password!!", "newPassword": NEW_PASSWORD}, "currentPassword"),
        ({"currentPassword": DEFAULT_PASSWORD, "newPassword": "short"}, "newPassword"),
        ({"currentPassword": DEFAULT_PASSWORD, "newPassword": "owner-is-me-owner-" + "x" * 4}, "newPassword"),
        ({"currentPassword": DEFAULT_PASSWORD, "newPassword": DEFAULT_PASSWORD}, "newPassword"),
    ]
    for body, field in cases:
        response = await client.post("/v1/me/password", json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert [error["field"] for error in response.json()["errors"]] == [field]
    assert (await client.get("/v1/me", headers=bearer(tokens))).status_code == 200


async def test_list_my_sessions_and_revoke_one(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    laptop = await login(client, seeded.slug, seeded.owner.email, **{"User-Agent": "laptop"})
    phone = await login(client, seeded.slug, seeded.owner.email, **{"User-Agent": "phone"})

    listed = await client.get("/v1/me/sessions", headers=bearer(laptop))

    assert listed.status_code == 200
    sessions = {session["userAgent"]: session for session in listed.json()}
    assert set(sessions) == {"laptop", "phone"}
    assert sessions["laptop"]["current"] is True
    assert sessions["phone"]["current"] is False
    revoked = await client.delete(f"/v1/me/sessions/{sessions['phone']['sessionId']}", headers=bearer(laptop))
    assert revoked.status_code == 204
    assert (await client.get("/v1/me", headers=bearer(phone))).status_code == 401
    assert (await _refresh(client, phone["refreshToken"])).status_code == 401
    again = await client.delete(f"/v1/me/sessions/{sessions['phone']['sessionId']}", headers=bearer(laptop))
    assert again.status_code == 404
    remaining = await client.get("/v1/me/sessions", headers=bearer(laptop))
    assert [session["userAgent"] for session in remaining.json()] == ["laptop"]


async def test_my_profile_can_change_name_and_language(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    tokens = await login(client, seeded.slug, seeded.owner.email)

    response = await client.patch(
        "/v1/me", json={"fullName": "Olivia O.", "locale": "en"}, headers=bearer(tokens)
    )

    assert response.status_code == 200, response.text
    assert response.json()["fullName"] == "Olivia O."
    assert response.json()["locale"] == "en"
    refused = await client.patch("/v1/me", json={"role": "ADMIN"}, headers=bearer(tokens))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "role"
    bad_locale = await client.patch("/v1/me", json={"locale": "fr"}, headers=bearer(tokens))
    assert bad_locale.status_code == 422
    blank = await client.patch("/v1/me", json={"fullName": "   "}, headers=bearer(tokens))
    assert blank.status_code == 422
