"""A token verified once skips Ed25519 on later requests, but never outlives its exp or its key."""

from __future__ import annotations

import asyncio
import time

import pytest
from joserfc.jwk import KeySet

from api.common.auth import (
    CLOCK_LEEWAY_SECONDS,
    StaticKeySet,
    VerifiedTokenCache,
    verify_access_token,
)
from api.common.errors import AuthenticationError
from api.common.settings import Settings
from tests.unit.common.token_factory import new_signing_key, sign_access_token

pytestmark = [pytest.mark.unit, pytest.mark.security]

SETTINGS = Settings()
KEY = new_signing_key("cache-key")


class SwappableKeys:
    """A key provider whose key set changes, as after a rotation or a JWKS refetch."""

    def __init__(self, keys: StaticKeySet) -> None:
        self.current = keys

    async def key_set(self, *, refresh: bool = False) -> KeySet:
        return await self.current.key_set(refresh=refresh)


async def test_a_verified_token_is_answered_from_the_cache() -> None:
    cache = VerifiedTokenCache()
    keys = StaticKeySet([KEY])
    token = sign_access_token(KEY, SETTINGS)

    first = await verify_access_token(token, keys, SETTINGS, cache=cache)
    again = await verify_access_token(token, keys, SETTINGS, cache=cache)

    assert again is first
    assert len(cache) == 1


async def test_an_expired_entry_is_dropped_and_the_token_checked_again() -> None:
    now = [time.time()]
    cache = VerifiedTokenCache(clock=lambda: now[0])
    keys = StaticKeySet([KEY])
    token = sign_access_token(KEY, SETTINGS, exp=int(now[0]) + 60)
    await verify_access_token(token, keys, SETTINGS, cache=cache)

    now[0] += 60 + CLOCK_LEEWAY_SECONDS - 1
    assert await cache.lookup(token, keys, CLOCK_LEEWAY_SECONDS) is not None
    now[0] += 2
    assert await cache.lookup(token, keys, CLOCK_LEEWAY_SECONDS) is None
    assert len(cache) == 0


async def test_a_token_past_its_exp_is_refused_even_after_being_cached() -> None:
    cache = VerifiedTokenCache()
    keys = StaticKeySet([KEY])
    token = sign_access_token(KEY, SETTINGS, exp=int(time.time()) + 1)
    await verify_access_token(token, keys, SETTINGS, leeway=0, cache=cache)

    await asyncio.sleep(2.1)

    with pytest.raises(AuthenticationError) as refused:
        await verify_access_token(token, keys, SETTINGS, leeway=0, cache=cache)
    assert str(refused.value) == "The access token has expired."


async def test_a_changed_key_for_the_kid_forces_a_full_check() -> None:
    """Same kid, another key (rotation, a replaced JWKS): the cached answer no longer counts."""
    cache = VerifiedTokenCache()
    keys = SwappableKeys(StaticKeySet([KEY]))
    token = sign_access_token(KEY, SETTINGS)
    await verify_access_token(token, keys, SETTINGS, cache=cache)

    keys.current = StaticKeySet([new_signing_key(KEY.kid)])

    assert await cache.lookup(token, keys, CLOCK_LEEWAY_SECONDS) is None
    with pytest.raises(AuthenticationError) as refused:
        await verify_access_token(token, keys, SETTINGS, cache=cache)
    assert str(refused.value) == "The access token signature is invalid."


async def test_a_retired_key_takes_its_cached_tokens_with_it() -> None:
    cache = VerifiedTokenCache()
    keys = SwappableKeys(StaticKeySet([KEY]))
    token = sign_access_token(KEY, SETTINGS)
    await verify_access_token(token, keys, SETTINGS, cache=cache)

    keys.current = StaticKeySet([new_signing_key("the-next-key")])

    with pytest.raises(AuthenticationError) as refused:
        await verify_access_token(token, keys, SETTINGS, cache=cache)
    assert str(refused.value) == "The access token was signed with an unknown key."


async def test_failures_are_never_cached() -> None:
    cache = VerifiedTokenCache()
    keys = StaticKeySet([KEY])
    forged = sign_access_token(new_signing_key(KEY.kid), SETTINGS)

    for _ in range(2):
        with pytest.raises(AuthenticationError):
            await verify_access_token(forged, keys, SETTINGS, cache=cache)
    assert len(cache) == 0


async def test_the_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    cache = VerifiedTokenCache(max_entries=2)
    keys = StaticKeySet([KEY])
    tokens = [sign_access_token(KEY, SETTINGS) for _ in range(3)]
    for token in tokens:
        await verify_access_token(token, keys, SETTINGS, cache=cache)

    assert len(cache) == 2
    assert await cache.lookup(tokens[0], keys, CLOCK_LEEWAY_SECONDS) is None
    assert await cache.lookup(tokens[2], keys, CLOCK_LEEWAY_SECONDS) is not None
