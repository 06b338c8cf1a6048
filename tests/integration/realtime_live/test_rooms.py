"""One realtime instance: editing together, observers, presence, and what the dojo records ask."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from api.common.settings import Settings
from infra.stack import free_port
from realtime.live import MEMBER_FIELD
from realtime.ports import LiveRooms
from tests.integration.realtime_live.support import (
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


async def test_two_python_clients_start_from_the_initial_code_and_converge(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant, initial_code="def soma(a, b):\n    return a + b\n")
    ada, bob = mint.caller(tenant), mint.caller(tenant)
    dojo.members = {ada.user_id: "PARTICIPANT", bob.user_id: "PARTICIPANT"}
    async with running_instance(settings, mint, access) as instance:
        async with (
            python_client(instance.url(dojo.dojo_id, ada.token)) as first,
            python_client(instance.url(dojo.dojo_id, bob.token)) as second,
        ):
            assert first.code == second.code == dojo.initial_code
            for index in range(20):
                first.text.insert(0, f"# a{index}\n")
                second.append(f"# b{index}\n")

            async def converged() -> bool:
                return first.code == second.code and first.code.count("\n") == 2 + 40

            await eventually(converged)
            assert await instance.runtime.code_of(dojo.dojo_id) == first.code
            assert dojo.initial_code in first.code
        assert set(access.touched) == {ada.user_id, bob.user_id}


async def test_an_observer_sees_every_edit_but_its_own_are_refused(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    driver, watcher = mint.caller(tenant), mint.caller(tenant)
    dojo.members = {driver.user_id: "PARTICIPANT", watcher.user_id: "OBSERVER"}
    async with running_instance(settings, mint, access) as instance:
        async with (
            python_client(instance.url(dojo.dojo_id, driver.token)) as participant,
            python_client(instance.url(dojo.dojo_id, watcher.token)) as observer,
            raw_client(instance.url(dojo.dojo_id, watcher.token)) as raw_observer,
        ):
            observer.append("import os  # observer\n")
            await asyncio.sleep(0.2)
            participant.append("print('driver')\n")

            async def observer_sees_the_driver() -> bool:
                return "print('driver')" in observer.code

            await eventually(observer_sees_the_driver)
            # The driver's edit came after the observer's: had the server taken it, it would be here.
            assert "observer" not in participant.code
            assert "observer" not in (await instance.runtime.code_of(dojo.dojo_id) or "")

            # A raw observer's update is dropped, and it is told why with y-protocols' auth message.
            await raw_observer.send(b"\x00\x02\x02\x00\x00")
            await wait_for(lambda: any(message[0] == 2 for message in raw_observer.messages))
            denied = next(message for message in raw_observer.messages if message[0] == 2)
            assert b"Observers cannot edit the code." in denied
            room = instance.runtime.server.room_of(dojo.dojo_id)
            assert room is not None
            assert sum(channel.refused_updates for channel in room.channels) >= 2


async def test_presence_is_relayed_stamped_protected_and_removed_on_disconnect(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    ada, bob, eve = mint.caller(tenant), mint.caller(tenant), mint.caller(tenant)
    dojo.members = {person.user_id: "PARTICIPANT" for person in (ada, bob, eve)}
    ada_state = {"user": {"name": "Ada", "color": "#f80"}, "cursor": {"anchor": 3, "head": 7}, "driver": True}
    async with running_instance(settings, mint, access) as instance:
        async with raw_client(instance.url(dojo.dojo_id, bob.token)) as watcher:
            async with raw_client(instance.url(dojo.dojo_id, ada.token)) as typist:
                await typist.send(awareness_message(1111, 1, ada_state))
                await wait_for(lambda: any(entry.client_id == 1111 for entry in watcher.awareness()))
                seen = next(entry for entry in watcher.awareness() if entry.client_id == 1111)
                assert seen.state is not None
                assert seen.state["cursor"] == {"anchor": 3, "head": 7}
                assert seen.state["driver"] is True
                assert seen.state[MEMBER_FIELD] == {
                    "userId": str(ada.user_id),
                    "name": f"user {str(ada.user_id)[:4]}",
                    "role": "PARTICIPANT",
                    "facilitator": False,
                }

                # Another person cannot take over Ada's presence, even claiming her identity.
                async with raw_client(instance.url(dojo.dojo_id, eve.token)) as impostor:
                    forged = {"driver": False, MEMBER_FIELD: {"userId": str(ada.user_id)}}
                    await impostor.send(awareness_message(1111, 9, forged))
                    await impostor.send(awareness_message(2222, 1, {"user": {"name": "Eve"}, **forged}))
                    await wait_for(lambda: any(entry.client_id == 2222 for entry in watcher.awareness()))
                    eve_entry = next(entry for entry in watcher.awareness() if entry.client_id == 2222)
                    assert eve_entry.state is not None
                    assert eve_entry.state[MEMBER_FIELD]["userId"] == str(eve.user_id)  # type: ignore[index]
                    assert all(entry.clock == 1 for entry in watcher.awareness() if entry.client_id == 1111)

                # Someone joining now is told at once who is here.
                async with raw_client(instance.url(dojo.dojo_id, bob.token)) as latecomer:
                    await wait_for(lambda: any(entry.client_id == 1111 for entry in latecomer.awareness()))

                # An echo (same clock) is news to nobody and is not relayed again.
                before = len(watcher.awareness())
                await typist.send(awareness_message(1111, 1, ada_state))
                await typist.send(awareness_message(1111, 2, {**ada_state, "driver": False}))
                await wait_for(lambda: any(entry.clock == 2 for entry in watcher.awareness()))
                assert [entry.clock for entry in watcher.awareness()[before:] if entry.client_id == 1111] == [
                    2
                ]
            # Ada's socket closed: her presence is removed for everyone.
            await wait_for(
                lambda: any(entry.client_id == 1111 and entry.state is None for entry in watcher.awareness())
            )


async def test_code_of_and_close_room(settings: Settings, mint: TokenMint, access: StandInRoomAccess) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant, initial_code="x = 1\n")
    ada = mint.caller(tenant)
    dojo.members = {ada.user_id: "PARTICIPANT"}
    async with running_instance(settings, mint, access) as instance:
        live: LiveRooms = instance.runtime  # what the dojo records see
        assert await live.code_of(uuid.uuid4()) is None
        async with (
            python_client(instance.url(dojo.dojo_id, ada.token)) as client,
            raw_client(instance.url(dojo.dojo_id, ada.token)) as other,
        ):
            client.append("y = 2\n")

            async def saved() -> bool:
                return await live.code_of(dojo.dojo_id) == "x = 1\ny = 2\n"

            await eventually(saved)
            await live.close_room(dojo.dojo_id, 4409, "dojo-ended")
            code, reason = await other.wait_closed()
            assert code == 4409
            assert close_reason(reason)["code"] == "dojo-ended"
        await wait_for(lambda: not instance.runtime.server.code_rooms)
        # No room is open anywhere now: the code comes from the stored state.
        assert await live.code_of(dojo.dojo_id) == "x = 1\ny = 2\n"


async def test_a_malformed_message_closes_only_its_socket(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    ada, bob = mint.caller(tenant), mint.caller(tenant)
    dojo.members = {ada.user_id: "PARTICIPANT", bob.user_id: "PARTICIPANT"}
    async with running_instance(settings, mint, access) as instance:
        async with (
            python_client(instance.url(dojo.dojo_id, ada.token)) as first,
            python_client(instance.url(dojo.dojo_id, bob.token)) as second,
        ):
            for garbage in (b"\x00\x02\x05\xff\xfe\xfd\xfc\xfb", b"\x01\x09\x01", "text, not binary"):
                async with raw_client(instance.url(dojo.dojo_id, bob.token)) as broken:
                    if isinstance(garbage, str):
                        await broken.socket.send_text(garbage)
                    else:
                        await broken.send(garbage)
                    code, reason = await broken.wait_closed()
                    assert code == 1007
                    assert close_reason(reason)["code"] == "invalid-message"
            first.append("still = True\n")

            async def still_working() -> bool:
                return "still = True" in second.code

            await eventually(still_working)


async def test_without_valkey_a_socket_is_told_to_try_again_later(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    ada = mint.caller(tenant)
    dojo.members = {ada.user_id: "PARTICIPANT"}
    unreachable = settings.model_copy(update={"valkey_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with running_instance(settings, mint, access, live_settings=unreachable) as instance:
        async with raw_client(instance.url(dojo.dojo_id, ada.token)) as client:
            code, reason = await client.wait_closed()
        assert code == 1013
        assert close_reason(reason)["code"] == "unavailable"
        assert not instance.runtime.server.code_rooms
