"""Denylist checks share Valkey round trips under load, yet each request still sees every revocation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from valkey.asyncio import Valkey
from valkey.exceptions import ConnectionError as ValkeyConnectionError

from api.common.auth import ValkeyDenylist
from api.common.settings import Settings
from api.common.valkey import create_valkey
from infra.stack import free_port

pytestmark = [pytest.mark.integration, pytest.mark.security]


@pytest.fixture
async def valkey(stack_settings: Settings) -> AsyncIterator[Valkey]:
    client = create_valkey(stack_settings)
    try:
        yield client
    finally:
        await client.aclose()


async def _mget_calls(valkey: Valkey) -> int:
    stats = await valkey.info("commandstats")
    return int(stats.get("cmdstat_mget", {}).get("calls", 0))


async def test_concurrent_checks_share_round_trips_and_get_their_own_answers(valkey: Valkey) -> None:
    denylist = ValkeyDenylist(valkey)
    jtis = [uuid.uuid4().hex for _ in range(60)]
    revoked = set(jtis[::3])
    for jti in revoked:
        await denylist.revoke(jti, 60)
    before = await _mget_calls(valkey)

    answers = await asyncio.gather(*(denylist.is_revoked(jti) for jti in jtis))

    assert answers == [jti in revoked for jti in jtis]
    assert 1 <= await _mget_calls(valkey) - before < len(jtis) // 4


async def test_a_check_asked_after_a_revocation_always_sees_it(valkey: Valkey) -> None:
    """Even when it queues behind a lookup that may have left before the revocation."""
    denylist = ValkeyDenylist(valkey)
    for yields in range(6):  # let the earlier lookup get more or less far each time
        jti = uuid.uuid4().hex
        earlier = asyncio.create_task(denylist.is_revoked(jti))
        for _ in range(yields):
            await asyncio.sleep(0)

        await denylist.revoke(jti, 60)
        later = await denylist.is_revoked(jti)

        assert later is True
        assert isinstance(await earlier, bool)  # either answer is right for a race it lost or won


async def test_every_waiting_check_fails_when_valkey_is_unreachable() -> None:
    unreachable = Valkey.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    denylist = ValkeyDenylist(unreachable)
    try:
        outcomes = await asyncio.gather(
            *(denylist.is_revoked(uuid.uuid4().hex) for _ in range(5)), return_exceptions=True
        )
        # The queue recovers: a later check asks again (and fails again) instead of hanging.
        with pytest.raises(ValkeyConnectionError):
            await asyncio.wait_for(denylist.is_revoked(uuid.uuid4().hex), 10)
    finally:
        await unreachable.aclose()
    assert all(isinstance(outcome, ValkeyConnectionError) for outcome in outcomes)
