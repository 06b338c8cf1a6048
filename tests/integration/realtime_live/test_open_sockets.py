"""Open sockets stay authorised: a token revoked or expired while connected, or a person removed from
the dojo, closes their code socket with the codes of a refusal at open, while the room goes on; a
participant made an observer stops editing. A person's sockets cost one admission per check."""

from __future__ import annotations

import time
import uuid

import pytest
from pycrdt import Doc, Text, TransactionEvent, create_update_message

from api.common.auth import TokenClaims
from api.common.settings import Settings
from realtime.live import LiveLimits
from realtime.live.protocol import AUTH_MESSAGE
from realtime.ports import Admission
from tests.integration.realtime_live.support import (
    PythonClient,
    StandInRoomAccess,
    TokenMint,
    close_reason,
    eventually,
    python_client,
    raw_client,
    running_instance,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.security]

LIMITS = LiveLimits(recheck_seconds=0.3, token_leeway_seconds=0)


class CountingRoomAccess(StandInRoomAccess):
    """The stand-in dojo records, counting how often they are asked."""

    def __init__(self) -> None:
        super().__init__()
        self.admissions = 0

    async def admit(self, claims: TokenClaims, dojo_id: uuid.UUID) -> Admission:
        self.admissions += 1
        return await super().admit(claims, dojo_id)


def an_update(text: str) -> bytes:
    """A SYNC update of a client of its own inserting `text`."""
    doc: Doc[Text] = Doc()
    updates: list[bytes] = []

    def collect(event: TransactionEvent) -> None:
        updates.append(create_update_message(event.update))

    doc.observe(collect)
    doc.get("code", type=Text).insert(0, text)
    return updates[0]


async def edits_reach(sender: PythonClient, receiver: PythonClient, marker: str) -> None:
    sender.append(marker)

    async def arrived() -> bool:
        return marker in receiver.code

    await eventually(arrived, within=5)


async def test_a_token_revoked_while_connected_closes_that_socket_only(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    ada, bob, cid = (mint.caller(tenant, locale="pt_BR") for _ in range(3))
    dojo.members = {person.user_id: "PARTICIPANT" for person in (ada, bob, cid)}
    async with (
        running_instance(settings, mint, access, limits=LIMITS) as instance,
        raw_client(instance.url(dojo.dojo_id, ada.token)) as revoked,
        python_client(instance.url(dojo.dojo_id, bob.token)) as first,
        python_client(instance.url(dojo.dojo_id, cid.token)) as second,
    ):
        await instance.denylist.revoke(ada.jti, 900)  # what identity does on logout
        code, reason = await revoked.wait_closed(within=5)
        parsed = close_reason(reason)
        assert (code, parsed["code"]) == (4401, "token-revoked")
        assert parsed["message"] == "O token de acesso foi revogado."
        await edits_reach(first, second, "# the others go on\n")
        assert len(instance.runtime.watch) == 2


async def test_a_token_closes_its_socket_when_it_expires(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    expires = int(time.time()) + 2
    ada = mint.caller(tenant, exp=expires)
    bob = mint.caller(tenant)
    dojo.members = {ada.user_id: "PARTICIPANT", bob.user_id: "PARTICIPANT"}
    async with (
        running_instance(settings, mint, access, limits=LIMITS) as instance,
        raw_client(instance.url(dojo.dojo_id, ada.token)) as lapsing,
        raw_client(instance.url(dojo.dojo_id, bob.token)) as staying,
    ):
        code, reason = await lapsing.wait_closed(within=8)
        closed_at = time.time()
        assert (code, close_reason(reason)["code"]) == (4401, "token-expired")
        assert closed_at >= expires
        assert closed_at < expires + 2
        assert staying.closed is None
        # A fresh token opens the room again: the client fetches one, then reconnects.
        fresh = mint.caller(tenant, user_id=ada.user_id).token
        async with (
            python_client(instance.url(dojo.dojo_id, fresh)) as back,
            python_client(instance.url(dojo.dojo_id, bob.token)) as witness,
        ):
            assert len(instance.runtime.watch) == 3
            await edits_reach(back, witness, "# back with a fresh token\n")


async def test_a_person_removed_from_the_dojo_is_disconnected(settings: Settings, mint: TokenMint) -> None:
    access = CountingRoomAccess()
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    ada, bob, cid = (mint.caller(tenant) for _ in range(3))
    dojo.members = {person.user_id: "PARTICIPANT" for person in (ada, bob, cid)}
    async with (
        running_instance(settings, mint, access, limits=LIMITS) as instance,
        raw_client(instance.url(dojo.dojo_id, ada.token)) as tab_one,
        raw_client(instance.url(dojo.dojo_id, ada.token)) as tab_two,
        python_client(instance.url(dojo.dojo_id, bob.token)) as first,
        python_client(instance.url(dojo.dojo_id, cid.token)) as second,
    ):
        watch = instance.runtime.watch
        before, checks = access.admissions, watch.checks
        await wait_for(lambda: watch.checks >= checks + 6)
        # Three people, four sockets: one admission per person and check (give or take the sweep
        # under way), where one per socket would be four.
        assert access.admissions - before <= 3 * (watch.checks - checks + 1)

        del dojo.members[ada.user_id]  # left the dojo, or removed from it
        for tab in (tab_one, tab_two):
            code, reason = await tab.wait_closed(within=5)
            assert (code, close_reason(reason)["code"]) == (4403, "not-a-participant")
        await edits_reach(first, second, "# still editing\n")


async def test_a_participant_made_observer_stops_editing_while_connected(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    ada, bob = mint.caller(tenant), mint.caller(tenant)
    dojo.members = {ada.user_id: "PARTICIPANT", bob.user_id: "PARTICIPANT"}
    async with (
        running_instance(settings, mint, access, limits=LIMITS) as instance,
        raw_client(instance.url(dojo.dojo_id, ada.token)) as demoted,
        python_client(instance.url(dojo.dojo_id, bob.token)) as watcher,
    ):
        dojo.members[ada.user_id] = "OBSERVER"
        checks = instance.runtime.watch.checks
        await wait_for(lambda: instance.runtime.watch.checks >= checks + 2)
        await demoted.send(an_update("observers_cannot_edit = True\n"))
        await wait_for(lambda: any(message[0] == AUTH_MESSAGE for message in demoted.messages))
        await edits_reach(watcher, watcher, "# mine\n")
        assert "observers_cannot_edit" not in watcher.code
        assert demoted.closed is None
