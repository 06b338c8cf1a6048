"""Two realtime instances (two uvicorn servers, one Valkey): clients on either converge, a client that
moves to the other instance loses nothing, and a room opened later starts from what was written."""

from __future__ import annotations

import uuid

import pytest
from pycrdt import Doc, Text
from valkey.asyncio import Valkey

from api.common.settings import Settings
from realtime.live import MEMBER_FIELD, LiveLimits
from realtime.live.relay import ValkeyRelay, log_key, state_key
from tests.integration.realtime_live.support import (
    PythonClient,
    StandInRoomAccess,
    TokenMint,
    awareness_message,
    close_reason,
    eventually,
    python_client,
    raw_client,
    running_instance,
    wait_for,
)

pytestmark = pytest.mark.integration


async def test_clients_on_two_instances_converge_and_see_each_other(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant, initial_code="total = 0\n")
    ada, bob = mint.caller(tenant), mint.caller(tenant)
    dojo.members = {ada.user_id: "PARTICIPANT", bob.user_id: "PARTICIPANT"}
    async with (
        running_instance(settings, mint, access) as one,
        running_instance(settings, mint, access) as two,
        python_client(one.url(dojo.dojo_id, ada.token)) as first,
        python_client(two.url(dojo.dojo_id, bob.token)) as second,
    ):
        assert first.code == second.code == "total = 0\n"
        for index in range(30):
            first.append(f"total += {index}\n")
            second.text.insert(0, f"# {index}\n")

        async def converged() -> bool:
            return first.code == second.code and first.code.count("\n") == 61

        await eventually(converged)

        async with (
            raw_client(one.url(dojo.dojo_id, ada.token)) as here,
            raw_client(two.url(dojo.dojo_id, bob.token)) as there,
        ):
            await here.send(
                awareness_message(4242, 1, {"user": {"name": "Ada"}, "cursor": {"anchor": 1, "head": 1}})
            )
            await wait_for(lambda: any(entry.client_id == 4242 for entry in there.awareness()))
            seen = next(entry for entry in there.awareness() if entry.client_id == 4242)
            assert seen.state is not None
            assert seen.state[MEMBER_FIELD]["userId"] == str(ada.user_id)  # type: ignore[index]
        # Ada's socket on instance one closed: her presence is gone on instance two as well.
        async with raw_client(two.url(dojo.dojo_id, bob.token)) as latecomer:
            room = two.runtime.server.room_of(dojo.dojo_id)
            assert room is not None
            await wait_for(lambda: 4242 not in room.awareness.states)
            assert all(entry.client_id != 4242 or entry.state is None for entry in latecomer.awareness())


async def test_a_client_moving_to_the_other_instance_loses_nothing(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant, initial_code="")
    ada, bob = mint.caller(tenant), mint.caller(tenant)
    dojo.members = {ada.user_id: "PARTICIPANT", bob.user_id: "PARTICIPANT"}
    async with (
        running_instance(settings, mint, access) as one,
        running_instance(settings, mint, access) as two,
        python_client(two.url(dojo.dojo_id, bob.token)) as watcher,
    ):
        expected = ""
        # Edit on instance one and leave at once, then come back to instance two with a new document.
        for round_number in range(5):
            async with python_client(one.url(dojo.dojo_id, ada.token)) as typist:
                for index in range(20):
                    line = f"line {round_number}.{index}\n"
                    typist.append(line)
                    expected += line
            async with python_client(two.url(dojo.dojo_id, ada.token)) as returning:

                async def nothing_lost(client: PythonClient = returning, wanted: str = expected) -> bool:
                    return client.code == wanted

                await eventually(nothing_lost, within=5)

        # Edits made while away from any instance reach everyone once the same document reconnects.
        kept: Doc[Text] = Doc()
        async with python_client(one.url(dojo.dojo_id, ada.token), kept) as typist:
            assert typist.code == expected
        kept.get("code", type=Text).insert(0, "# offline\n")
        async with python_client(two.url(dojo.dojo_id, ada.token), kept) as typist:
            assert typist.code == "# offline\n" + expected

        async def watcher_has_everything() -> bool:
            return watcher.code == "# offline\n" + expected

        await eventually(watcher_has_everything)


async def test_a_room_opened_later_starts_from_the_stored_state(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant, initial_code="seed()\n")
    ada = mint.caller(tenant)
    dojo.members = {ada.user_id: "PARTICIPANT"}
    limits = LiveLimits(compact_every_updates=10, compact_every_seconds=0.5, log_retention_seconds=0)
    valkey = Valkey.from_url(settings.valkey_url)
    try:
        async with running_instance(settings, mint, access, limits=limits) as one:
            async with python_client(one.url(dojo.dojo_id, ada.token)) as typist:
                for index in range(50):
                    typist.append(f"step({index})\n")
                written = typist.code

                async def compacted() -> bool:
                    return bool(await valkey.exists(state_key(dojo.dojo_id))) and (
                        await valkey.xlen(log_key(dojo.dojo_id)) < 20
                    )

                await eventually(compacted)
            await wait_for(lambda: not one.runtime.server.code_rooms)

        # Both instances are new; the dojo's initial code changed meanwhile: the stored code wins.
        dojo.initial_code = "something_else()\n"
        async with (
            running_instance(settings, mint, access, limits=limits) as two,
            running_instance(settings, mint, access, limits=limits) as three,
        ):
            assert await two.runtime.code_of(dojo.dojo_id) == written
            async with (
                python_client(two.url(dojo.dojo_id, ada.token)) as a,
                python_client(three.url(dojo.dojo_id, ada.token)) as b,
            ):
                assert a.code == b.code == written
    finally:
        await valkey.aclose()


async def test_closing_a_room_closes_its_sockets_on_every_instance(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    ada, bob = mint.caller(tenant), mint.caller(tenant)
    dojo.members = {ada.user_id: "PARTICIPANT", bob.user_id: "OBSERVER"}
    async with (
        running_instance(settings, mint, access) as one,
        running_instance(settings, mint, access) as two,
        raw_client(one.url(dojo.dojo_id, ada.token)) as here,
        raw_client(two.url(dojo.dojo_id, bob.token)) as there,
    ):
        await wait_for(lambda: two.runtime.server.room_of(dojo.dojo_id) is not None)
        await one.runtime.close_room(dojo.dojo_id, 4409, "dojo-cancelled")
        for client in (here, there):
            code, reason = await client.wait_closed()
            assert code == 4409
            assert close_reason(reason)["code"] == "dojo-cancelled"


@pytest.mark.parametrize(("retention_seconds", "kept"), [(60.0, 10), (0.0, 1)])
async def test_compaction_keeps_what_another_instance_may_not_have_read(
    settings: Settings, retention_seconds: float, kept: int
) -> None:
    """The log is also how instances learn of each other's edits: recent entries outlive compaction."""
    dojo_id = uuid.uuid4()
    valkey = Valkey.from_url(settings.valkey_url)
    relay = ValkeyRelay(
        valkey,
        valkey,
        LiveLimits(log_retention_seconds=retention_seconds),
        instance_id="test",
        on_close=lambda *_: None,
    )
    try:
        doc: Doc[Text] = Doc()
        text = doc.get("code", type=Text)
        last = b""
        for index in range(10):
            before = doc.get_state()
            text.insert(len(text), f"{index};")
            last = await valkey.xadd(log_key(dojo_id), {b"o": b"elsewhere", b"u": doc.get_update(before)})
        assert await relay.compact(dojo_id, doc.get_update(), last)
        assert await valkey.xlen(log_key(dojo_id)) == kept
        stored = await relay.load(dojo_id, seed=None)
        rebuilt: Doc[Text] = Doc()
        for update in stored.updates():
            rebuilt.apply_update(update)
        assert str(rebuilt.get("code", type=Text)) == str(text)
    finally:
        await valkey.delete(log_key(dojo_id), state_key(dojo_id))
        await valkey.aclose()
