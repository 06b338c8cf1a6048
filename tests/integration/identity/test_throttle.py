"""Brute-force defence and rate limits, counted in the real Valkey."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.common.settings import Settings
from api.identity import audit
from api.identity.throttle import ThrottlePolicy
from tests.integration.identity.support import (
    DEFAULT_PASSWORD,
    IdentityClient,
    identity_settings,
    login,
    running_client,
    runtime_of,
    seed_tenant,
)

pytestmark = pytest.mark.integration


async def _attempt(client: IdentityClient, slug: str, email: str, password: str) -> Any:
    return await client.post(
        "/v1/auth/login",
        json={"tenantSlug": slug, "email": email, "password": password},
        headers={"Accept-Language": "en"},
    )


async def test_ten_failures_lock_the_account_until_the_lockout_expires(stack_settings: Settings) -> None:
    settings = identity_settings(stack_settings, login_lockout_seconds=2)
    policy = ThrottlePolicy.from_settings(settings).without_delays()
    async with running_client(settings, policy=policy) as client:
        await runtime_of(client).throttle.clear()
        seeded = await seed_tenant(client)
        statuses = []
        for _ in range(10):
            statuses.append(
                (await _attempt(client, seeded.slug, seeded.owner.email, "wrong password!")).status_code
            )

        assert statuses == [401] * 9 + [423]
        locked = await _attempt(client, seeded.slug, seeded.owner.email, DEFAULT_PASSWORD)
        assert locked.status_code == 423
        assert locked.json()["code"] == "account-locked"
        assert 1 <= int(locked.headers["Retry-After"]) <= 2
        assert locked.json()["retryAfter"] == int(locked.headers["Retry-After"])
        async with runtime_of(client).tenant_scope(seeded.tenant_id):
            lockouts, _ = await audit.list_events(seeded.tenant_id, action="lockout", offset=0, limit=5)
        assert len(lockouts) == 1
        assert lockouts[0].details["failures"] == 10

        await asyncio.sleep(2.2)
        tokens = await login(client, seeded.slug, seeded.owner.email)
        assert tokens["userId"] == str(seeded.owner.user_id)


async def test_unknown_accounts_are_locked_the_same_way(stack_settings: Settings) -> None:
    settings = identity_settings(stack_settings)
    policy = ThrottlePolicy.from_settings(settings).without_delays()
    async with running_client(settings, policy=policy) as client:
        await runtime_of(client).throttle.clear()
        seeded = await seed_tenant(client)
        statuses = [
            (await _attempt(client, seeded.slug, "ghost@example.com", "whatever it is")).status_code
            for _ in range(11)
        ]
        assert statuses == [401] * 9 + [423, 423]
        # Another account of the same tenant is not affected.
        assert (await _attempt(client, seeded.slug, seeded.owner.email, DEFAULT_PASSWORD)).status_code == 200


async def test_failures_make_the_next_attempt_wait_longer_and_longer(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    for _ in range(3):
        assert (await _attempt(client, seeded.slug, seeded.owner.email, "wrong password!")).status_code == 401

    delayed = await _attempt(client, seeded.slug, seeded.owner.email, DEFAULT_PASSWORD)
    assert delayed.status_code == 429
    assert delayed.json()["code"] == "login-delayed"
    assert delayed.headers["Retry-After"] == "1"
    assert delayed.json()["detail"] == "Please wait 1 s before trying again."

    await asyncio.sleep(1.05)
    assert (await _attempt(client, seeded.slug, seeded.owner.email, "wrong password!")).status_code == 401
    doubled = await _attempt(client, seeded.slug, seeded.owner.email, DEFAULT_PASSWORD)
    assert doubled.status_code == 429
    assert doubled.headers["Retry-After"] == "2"

    await asyncio.sleep(2.05)
    # A success clears the account's counter: the next mistake starts from zero again.
    await login(client, seeded.slug, seeded.owner.email)
    assert (await _attempt(client, seeded.slug, seeded.owner.email, "wrong password!")).status_code == 401
    assert (await _attempt(client, seeded.slug, seeded.owner.email, DEFAULT_PASSWORD)).status_code == 200


async def test_logins_per_address_are_rate_limited(stack_settings: Settings) -> None:
    settings = identity_settings(stack_settings, login_rate_per_minute=3)
    async with running_client(settings) as client:
        await runtime_of(client).throttle.clear()
        seeded = await seed_tenant(client)
        for _ in range(3):
            await login(client, seeded.slug, seeded.owner.email)

        limited = await _attempt(client, seeded.slug, seeded.owner.email, DEFAULT_PASSWORD)

        assert limited.status_code == 429
        assert limited.json()["code"] == "rate-limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        # Another address is counted apart.
        async with client.from_address("198.51.100.7") as elsewhere:
            await login(elsewhere, seeded.slug, seeded.owner.email)


async def test_signups_per_address_are_rate_limited(stack_settings: Settings) -> None:
    settings = identity_settings(stack_settings, signup_rate_per_hour=2)
    async with running_client(settings) as client:
        await runtime_of(client).throttle.clear()
        bad_body = {
            "tenantName": "Rate",
            "slug": "-",
            "adminEmail": "a@example.com",
            "password": "x",
            "fullName": "A",
        }
        statuses = [(await client.post("/v1/signup", json=bad_body)).status_code for _ in range(3)]
        assert statuses == [422, 422, 429]
