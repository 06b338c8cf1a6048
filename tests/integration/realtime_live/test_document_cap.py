"""The code document's size cap: a change that would grow it past the cap is neither applied nor
relayed, and its sender is closed (4413 ``document-too-large``), while the others keep editing and
what was stored stays as it was."""

from __future__ import annotations

import uuid

import pytest
from pycrdt import Doc, Text, TransactionEvent, create_update_message
from wsproto.utilities import LocalProtocolError

from api.common.settings import Settings
from realtime.live import LiveLimits
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

pytestmark = pytest.mark.integration

CAP = 8 * 1024
LIMITS = LiveLimits(max_document_bytes=CAP, messages_per_second=500, burst_messages=500)


def updates_of(chunks: list[str]) -> list[bytes]:
    """SYNC update messages of a client of its own appending each of `chunks` in turn."""
    doc: Doc[Text] = Doc()
    text = doc.get("code", type=Text)
    updates: list[bytes] = []

    def collect(event: TransactionEvent) -> None:
        updates.append(create_update_message(event.update))

    doc.observe(collect)
    for chunk in chunks:
        text.insert(len(text), chunk)
    return updates


async def edits_reach(sender: PythonClient, receiver: PythonClient, marker: str) -> None:
    sender.append(marker)

    async def arrived() -> bool:
        return marker in receiver.code

    await eventually(arrived, within=5)


async def test_an_update_past_the_cap_is_refused_while_the_room_goes_on(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    ada, bob, mallory = (mint.caller(tenant, locale="pt_BR") for _ in range(3))
    dojo.members = {person.user_id: "PARTICIPANT" for person in (ada, bob, mallory)}
    async with running_instance(settings, mint, access, limits=LIMITS) as instance:
        async with (
            python_client(instance.url(dojo.dojo_id, ada.token)) as first,
            python_client(instance.url(dojo.dojo_id, bob.token)) as second,
        ):
            await edits_reach(first, second, "# before\n")
            room = instance.runtime.server.room_of(dojo.dojo_id)
            assert room is not None
            await room.compact()
            stored = await instance.runtime.code_of(dojo.dojo_id)
            async with raw_client(instance.url(dojo.dojo_id, mallory.token)) as big:
                (huge,) = updates_of(["#" * (2 * CAP)])  # far below the message limit, past the cap
                await big.send(huge)
                code, reason = await big.wait_closed()
            parsed = close_reason(reason)
            assert (code, parsed["code"]) == (4413, "document-too-large")
            assert parsed["message"].startswith("O código passaria do limite de 8192 bytes")
            assert room.refused_growth == 1
            await edits_reach(first, second, "# after\n")
            await edits_reach(second, first, "# and back\n")
            assert "#" * 100 not in first.code + second.code
            assert room.state_bytes <= CAP
        await wait_for(lambda: instance.runtime.server.room_of(dojo.dojo_id) is None)
        after = await instance.runtime.code_of(dojo.dojo_id)
    assert after == f"{stored}# after\n# and back\n"


async def test_small_edits_stop_at_the_cap_and_deleting_is_still_possible(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant, initial_code="")
    ada, bob = mint.caller(tenant), mint.caller(tenant)
    dojo.members = {ada.user_id: "PARTICIPANT", bob.user_id: "PARTICIPANT"}
    async with (
        running_instance(settings, mint, access, limits=LIMITS) as instance,
        python_client(instance.url(dojo.dojo_id, bob.token)) as watcher,
        raw_client(instance.url(dojo.dojo_id, ada.token)) as typist,
    ):
        line = "x = 1  # a line of about forty bytes...\n"
        for update in updates_of([line] * (2 * CAP // len(line))):
            try:
                await typist.send(update)
            except LocalProtocolError:  # the server is closing this socket already
                break
        code, reason = await typist.wait_closed()
        assert (code, close_reason(reason)["code"]) == (4413, "document-too-large")
        room = instance.runtime.server.room_of(dojo.dojo_id)
        assert room is not None
        assert CAP // 2 < room.state_bytes <= CAP

        async def everything_arrived() -> bool:
            return watcher.code == room.code

        await eventually(everything_arrived)
        # At the cap, a person can still delete, then write again.
        del watcher.text[0 : len(watcher.text) // 2]
        await eventually(everything_arrived)
        watcher.append("# room again\n")

        async def written_again() -> bool:
            return room.code.endswith("# room again\n")

        await eventually(written_again)
        assert room.refused_growth == 1
