"""A web client (yjs + y-websocket in Node) and a Python client (pycrdt) edit the same code."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from api.common.settings import Settings
from realtime.live import MEMBER_FIELD, LiveLimits
from tests.integration.realtime_live.support import (
    StandInRoomAccess,
    TokenMint,
    eventually,
    node_client,
    python_client,
    raw_client,
    running_instance,
    wait_for,
)

pytestmark = pytest.mark.integration


async def test_node_client_arriving_first_converges_with_python(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess, node_client_dir: Path
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant, initial_code="def soma(a, b):\n    return a + b\n")
    web, py = mint.caller(tenant), mint.caller(tenant)
    dojo.members = {web.user_id: "PARTICIPANT", py.user_id: "PARTICIPANT"}
    async with running_instance(settings, mint, access) as instance:
        async with node_client(node_client_dir, instance.base_url + f"/{dojo.dojo_id}", web.token) as node:
            synced = await node.wait_event(lambda event: event["event"] == "synced")
            assert synced["text"] == dojo.initial_code
            async with python_client(instance.url(dojo.dojo_id, py.token)) as python:
                assert python.code == dojo.initial_code
                await node.insert(0, "# web\n")
                python.append("# python\n")
                expected_ends = ("# python\n",)

                async def python_sees_both() -> bool:
                    return python.code.startswith("# web\n") and python.code.endswith(expected_ends)

                await eventually(python_sees_both)
                final = await node.wait_event(lambda event: event.get("text") == python.code)
                assert final["text"] == "# web\n" + dojo.initial_code + "# python\n"


async def test_node_presence_and_a_node_observer(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess, node_client_dir: Path
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    driver, navigator, watcher = mint.caller(tenant), mint.caller(tenant), mint.caller(tenant)
    dojo.members = {
        driver.user_id: "PARTICIPANT",
        navigator.user_id: "PARTICIPANT",
        watcher.user_id: "OBSERVER",
    }
    async with running_instance(settings, mint, access) as instance:
        base = instance.base_url + f"/{dojo.dojo_id}"
        async with (
            python_client(instance.url(dojo.dojo_id, driver.token)) as python,
            raw_client(instance.url(dojo.dojo_id, driver.token)) as presence,
            node_client(node_client_dir, base, navigator.token) as web,
            node_client(node_client_dir, base, watcher.token) as observer,
        ):
            web_id = (await web.wait_event(lambda event: event["event"] == "synced"))["clientId"]
            await observer.wait_event(lambda event: event["event"] == "synced")

            # The navigator's cursor reaches Python, stamped with who the navigator is.
            cursor = {"anchor": 4, "head": 9}
            await web.command(awareness={"user": {"name": "Nina", "color": "#0af"}, "cursor": cursor})
            await wait_for(
                lambda: any(
                    entry.client_id == web_id
                    and entry.state is not None
                    and entry.state.get("cursor") == cursor
                    for entry in presence.awareness()
                )
            )
            stamped = [
                entry.state for entry in presence.awareness() if entry.client_id == web_id and entry.state
            ]
            assert stamped[-1][MEMBER_FIELD]["userId"] == str(navigator.user_id)  # type: ignore[index]
            # ...and the observer's Node client sees it too.
            await observer.wait_event(
                lambda event: (
                    event["event"] == "awareness"
                    and any(state.get("cursor") == cursor for _, state in event["states"])
                )
            )

            # The observer types: refused, and told so; the participants never see it.
            await observer.insert(0, "# observer was here\n")
            denied = await observer.wait_event(lambda event: event["event"] == "permission-denied")
            assert "Observers cannot edit the code." in denied["message"]
            python.append("# driver\n")
            await observer.wait_event(lambda event: "# driver" in event.get("text", ""))
            await web.wait_event(lambda event: "# driver" in event.get("text", ""))
            assert "observer was here" not in python.code
            assert "observer was here" not in (web.code or "")

            # The navigator's process dies without a word: the server removes its presence.
            web.process.kill()
            await wait_for(
                lambda: any(
                    entry.client_id == web_id and entry.state is None for entry in presence.awareness()
                )
            )


async def test_web_clients_echoing_presence_are_not_taken_for_a_flood(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess, node_client_dir: Path
) -> None:
    """y-websocket sends back every presence change it receives: those echoes cost little."""
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    mover, typist = mint.caller(tenant), mint.caller(tenant)
    dojo.members = {mover.user_id: "PARTICIPANT", typist.user_id: "PARTICIPANT"}
    limits = LiveLimits(messages_per_second=30, burst_messages=10, flood_grace_seconds=0.5)
    async with running_instance(settings, mint, access, limits=limits) as instance:
        base = instance.base_url + f"/{dojo.dojo_id}"
        async with (
            node_client(node_client_dir, base, mover.token) as moving,
            node_client(node_client_dir, base, typist.token) as typing,
        ):
            for client in (moving, typing):
                await client.wait_event(lambda event: event["event"] == "synced")
            # 25 cursor moves a second from one, 10 keystrokes a second from the other, for 4 s:
            # with the echoes, the typist sends about 35 messages a second, over its budget of 30.
            for step in range(100):
                await moving.command(awareness={"cursor": {"anchor": step, "head": step}})
                if step % 3 == 0:
                    await typing.insert(-1, "x")
                await asyncio.sleep(1 / 25)
            await typing.wait_event(lambda event: event.get("text", "").count("x") == 34)
            await moving.wait_event(lambda event: event.get("text", "").count("x") == 34)
            room = instance.runtime.server.room_of(dojo.dojo_id)
            assert room is not None
            assert len(room.channels) == 2
            assert all(channel.close_reason is None for channel in room.channels)
            assert sum(channel.dropped_echoes for channel in room.channels) > 50
            assert not [event for event in moving.events + typing.events if event["event"] == "closed"]
