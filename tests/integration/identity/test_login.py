"""Login against the real database: the happy path, and every refusal looking the same."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from api.identity import audit, repository
from api.identity.passwords import PasswordHasher
from tests.integration.identity.support import (
    DEFAULT_PASSWORD,
    IdentityClient,
    bearer,
    login,
    runtime_of,
    seed_tenant,
)

pytestmark = pytest.mark.integration


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


async def _login_response(
    client: IdentityClient, slug: str, email: str, password: str, **headers: str
) -> Any:
    return await client.post(
        "/v1/auth/login", json={"tenantSlug": slug, "email": email, "password": password}, headers=headers
    )


async def test_login_returns_a_bearer_access_token_and_a_refresh_token(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)

    tokens = await login(client, seeded.slug, seeded.owner.email)

    assert tokens["tokenType"] == "Bearer"
    assert tokens["expiresIn"] == client.app.state.settings.access_token_ttl_seconds == 900
    assert tokens["userId"] == str(seeded.owner.user_id)
    assert tokens["tenantId"] == str(seeded.tenant_id)
    assert len(tokens["refreshToken"]) >= 43
    header, claims = _segment(tokens["accessToken"], 0), _segment(tokens["accessToken"], 1)
    assert header["alg"] == "Ed25519"
    assert header["typ"] == "at+jwt"
    assert header["kid"]
    assert claims["sub"] == str(seeded.owner.user_id)
    assert claims["tid"] == str(seeded.tenant_id)
    assert claims["roles"] == ["OWNER"]
    assert claims["iss"] == "mrbill-identity"
    assert claims["aud"] == "mrbill"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] == claims["iat"]
    assert claims["sid"]
    assert claims["jti"]
    assert claims["locale"] is None
    me = await client.get("/v1/me", headers=bearer(tokens))
    assert me.status_code == 200
    assert me.json()["lastLoginAt"] is not None


async def test_login_is_case_insensitive_on_email_and_slug(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    tokens = await login(client, seeded.slug.upper(), seeded.owner.email.upper())
    assert tokens["userId"] == str(seeded.owner.user_id)


async def test_every_refusal_reads_the_same(client: IdentityClient) -> None:
    """Wrong password, unknown e-mail, unknown tenant and an inactive user: one answer."""
    seeded = await seed_tenant(client, members=(("mia", "MEMBER"),))
    pending = await seed_tenant(client, status="PENDING")
    owner_tokens = await login(client, seeded.slug, seeded.owner.email)
    deactivated = await client.post(
        f"/v1/users/{seeded.users['mia'].user_id}/deactivate", headers=bearer(owner_tokens)
    )
    assert deactivated.status_code == 200

    attempts = [
        (seeded.slug, seeded.owner.email, "wrong password here"),
        (seeded.slug, "nobody@example.com", DEFAULT_PASSWORD),
        ("no-such-tenant", seeded.owner.email, DEFAULT_PASSWORD),
        (seeded.slug, seeded.users["mia"].email, DEFAULT_PASSWORD),
        (pending.slug, pending.owner.email, DEFAULT_PASSWORD),
        ("Not A Slug!", seeded.owner.email, DEFAULT_PASSWORD),
    ]
    bodies = []
    for slug, email, password in attempts:
        response = await _login_response(client, slug, email, password, **{"Accept-Language": "en"})
        assert response.status_code == 401, (slug, email, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        bodies.append({key: body[key] for key in ("type", "title", "status", "detail", "code")})
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["code"] == "invalid-credentials"
    assert bodies[0]["detail"] == "The tenant, e-mail or password is not correct."


async def test_a_refused_login_is_audited_and_a_good_one_too(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    refused = await _login_response(client, seeded.slug, seeded.owner.email, "not the password")
    assert refused.status_code == 401
    await login(client, seeded.slug, seeded.owner.email)

    runtime = runtime_of(client)
    async with runtime.tenant_scope(seeded.tenant_id):
        events, total = await audit.list_events(seeded.tenant_id, action=None, offset=0, limit=50)
    actions = [event.action for event in events]
    assert "login_failed" in actions
    assert "login_succeeded" in actions
    failed = next(event for event in events if event.action == "login_failed")
    assert failed.details["reason"] == "bad_password"
    assert failed.target == seeded.owner.email
    assert failed.ip_address == "203.0.113.10"
    assert total >= 2


async def test_an_invited_user_cannot_log_in_until_they_have_a_password(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    owner_tokens = await login(client, seeded.slug, seeded.owner.email)
    invited = await client.post(
        "/v1/users",
        json={"email": f"invitee@{seeded.slug}.example.com", "fullName": "Ivy Invitee"},
        headers=bearer(owner_tokens),
    )
    assert invited.status_code == 201
    assert invited.json()["status"] == "INVITED"
    refused = await _login_response(client, seeded.slug, invited.json()["email"], "!invited:whatever")
    assert refused.status_code == 401


async def test_a_stale_hash_is_upgraded_on_login(client: IdentityClient) -> None:
    """Parameters raised since the hash was made: the next good login rehashes the password."""
    seeded = await seed_tenant(client)
    runtime = runtime_of(client)
    cheaper = PasswordHasher(
        client.app.state.settings.model_copy(update={"argon2_time_cost": 1, "argon2_memory_cost_kib": 512})
    )
    old_hash = await cheaper.hash(DEFAULT_PASSWORD)
    async with runtime.tenant_scope(seeded.tenant_id):
        await repository.update_user(
            seeded.tenant_id,
            seeded.owner.user_id,
            {"password_hash": old_hash},
            seeded.owner.record.updated_at,
        )

    await login(client, seeded.slug, seeded.owner.email)

    async with runtime.tenant_scope(seeded.tenant_id):
        new_hash = await repository.get_password_hash(seeded.tenant_id, seeded.owner.user_id)
    assert new_hash is not None
    assert new_hash != old_hash
    assert new_hash.startswith("$argon2id$")
    assert "m=1024" in new_hash
