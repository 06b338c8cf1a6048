"""Open session sockets stay authorised: a token revoked while connected, or a person who left the
dojo, gets the ``refused`` frame and the close code of a refusal at open, while the others stay. A
refreshed token is the one checked from then on."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from api.common.tenancy import tenant_transaction
from tests.integration.realtime_session.support import (
    Dojo,
    Parts,
    SessionClient,
    create_dojo,
    running_instance,
    session,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.security]

RECHECK_SECONDS = 0.3


def quick(parts: Parts) -> dict[str, Any]:
    """An instance whose open sockets are checked every few tenths of a second."""
    return {"settings": parts.settings.model_copy(update={"dojo_socket_recheck_seconds": RECHECK_SECONDS})}


async def leave(engine: Any, dojo: Dojo, user_id: uuid.UUID) -> None:
    """What ``leaveDojo`` writes: the row stays, with its leave time."""
    async with tenant_transaction(engine, dojo.tenant_id) as transaction:
        await transaction.connection.execute(
            "UPDATE dojo_participants SET leave_time = now() WHERE dojo_id = $1 AND user_id = $2",
            dojo.dojo_id,
            user_id,
        )


async def still_served(client: SessionClient) -> None:
    await client.send("ping")
    assert (await client.expect("pong"))["serverTime"]


async def test_a_token_revoked_while_connected_closes_that_socket(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint, participants=2)
    ana, bia = dojo.participants
    async with (
        running_instance(parts, **quick(parts)) as instance,
        session(instance, dojo, ana) as staying,
        session(instance, dojo, bia) as revoked,
    ):
        await instance.denylist.revoke(bia.jti, 600)  # logout, or a revoked session
        code, reason, frames = await revoked.closed(within=5)
        assert (code, reason) == (4401, {"reason": "token-revoked"})
        assert frames[-1]["type"] == "refused"
        assert frames[-1]["closeCode"] == 4401
        assert frames[-1]["message"] == "The access token has been revoked."
        left = await staying.expect("presence", lambda frame: frame["left"] == str(bia.user_id))
        assert [member["userId"] for member in left["members"]] == [str(ana.user_id)]
        await still_served(staying)


async def test_a_person_who_left_the_dojo_is_disconnected(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint, participants=2, observers=1)
    ana, bia = dojo.participants
    async with (
        running_instance(parts, **quick(parts)) as instance,
        session(instance, dojo, ana) as staying,
        session(instance, dojo, bia) as first_tab,
        session(instance, dojo, bia) as second_tab,
    ):
        await leave(parts.engine, dojo, bia.user_id)
        for tab in (first_tab, second_tab):
            code, reason, frames = await tab.closed(within=5)
            assert (code, reason) == (4403, {"reason": "not-a-participant"})
            assert frames[-1]["type"] == "refused"
        await still_served(staying)


async def test_the_refreshed_token_is_the_one_checked(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    ana = dojo.facilitator
    async with (
        running_instance(parts, **quick(parts)) as instance,
        session(instance, dojo, ana) as client,
    ):
        fresh_jti = uuid.uuid4().hex
        await client.send("token.refresh", accessToken=parts.mint.token_for(ana, jti=fresh_jti))
        await client.expect("token.refreshed")
        await instance.denylist.revoke(ana.jti, 600)  # the old token, logged out elsewhere
        watch = instance.runtime.channel.watch
        checks = watch.checks
        await wait_for(lambda: watch.checks >= checks + 3)
        await still_served(client)
        await instance.denylist.revoke(fresh_jti, 600)
        code, reason, _ = await client.closed(within=5)
        assert (code, reason) == (4401, {"reason": "token-revoked"})
