"""Limits: a message too large, a client too fast, a client too slow. Each is dealt with on its own
socket while the others in the room keep editing."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from pycrdt import Doc, Text, TransactionEvent, create_update_message

from api.common.settings import Settings
from realtime.live import LiveLimits
from realtime.live.channel import RoomChannel
from tests.integration.realtime_live.support import (
    Instance,
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

LIMITS = LiveLimits(
    max_message_bytes=64 * 1024,
    messages_per_second=50,
    burst_messages=50,
    flood_grace_seconds=1.0,
    send_queue_messages=10_000,
    send_queue_bytes=256 * 1024,
    max_document_bytes=16 * 1024 * 1024,  # the slow consumer's test writes 4 MB of code
)


def update_messages(count: int, size: int = 1) -> list[bytes]:
    """`count` valid document updates of a client of its own, each inserting `size` characters."""
    doc: Doc[Text] = Doc()
    text = doc.get("code", type=Text)
    updates: list[bytes] = []

    def collect(event: TransactionEvent) -> None:
        updates.append(create_update_message(event.update))

    doc.observe(collect)
    for index in range(count):
        text.insert(len(text), str(index % 10) * size)
    return updates


async def assert_room_keeps_working(sender: PythonClient, receiver: PythonClient, marker: str) -> float:
    """How long an edit took to reach the other client (it must, within 2 s)."""
    started = time.monotonic()
    sender.append(marker)

    async def arrived() -> bool:
        return marker in receiver.code

    await eventually(arrived, within=2)
    return time.monotonic() - started


async def test_a_message_above_the_size_limit_closes_that_socket(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    ada, bob, mallory = mint.caller(tenant), mint.caller(tenant), mint.caller(tenant)
    dojo.members = {person.user_id: "PARTICIPANT" for person in (ada, bob, mallory)}
    async with (
        running_instance(settings, mint, access, limits=LIMITS) as instance,
        python_client(instance.url(dojo.dojo_id, ada.token)) as first,
        python_client(instance.url(dojo.dojo_id, bob.token)) as second,
        raw_client(instance.url(dojo.dojo_id, mallory.token)) as big,
    ):
        (huge,) = update_messages(1, size=70 * 1024)
        await big.send(huge)
        code, reason = await big.wait_closed()
        assert code == 4413
        parsed = close_reason(reason)
        assert parsed["code"] == "message-too-large"
        assert "65536" in parsed["message"]
        await assert_room_keeps_working(first, second, "after_the_big_one = 1\n")
        assert "0" * 1000 not in second.code


async def test_a_flooding_client_is_slowed_then_closed_while_the_room_works(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    ada, bob, mallory = mint.caller(tenant), mint.caller(tenant), mint.caller(tenant)
    dojo.members = {person.user_id: "PARTICIPANT" for person in (ada, bob, mallory)}
    async with (
        running_instance(settings, mint, access, limits=LIMITS) as instance,
        python_client(instance.url(dojo.dojo_id, ada.token)) as first,
        python_client(instance.url(dojo.dojo_id, bob.token)) as second,
        raw_client(instance.url(dojo.dojo_id, mallory.token)) as flooder,
    ):

        async def flood() -> None:
            with contextlib.suppress(Exception):
                for message in update_messages(3000):
                    await flooder.send(message)

        flooding = asyncio.create_task(flood())
        try:
            delays: list[float] = []
            while flooder.closed is None:
                delays.append(await assert_room_keeps_working(first, second, f"# still here {len(delays)}\n"))
                await asyncio.sleep(0.1)
            code, reason = flooder.closed
            assert code == 4429
            assert close_reason(reason)["code"] == "too-many-messages"
            assert delays, "the flood should last long enough for the others to be seen editing"
            assert max(delays) < 0.5
        finally:
            flooding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flooding
        await assert_room_keeps_working(second, first, "# after the flood\n")
        # pycrdt's Provider sends back every update it gets (the flood too): echoes do not count.
        room = instance.runtime.server.room_of(dojo.dojo_id)
        assert room is not None
        assert {channel.admission.user_id for channel in room.channels} == {ada.user_id, bob.user_id}
        assert all(channel.dropped_echoes > 0 for channel in room.channels)


@contextlib.asynccontextmanager
async def never_reading_socket(
    instance: Instance, dojo_id: uuid.UUID, token: str
) -> AsyncIterator[socket.socket]:
    """A WebSocket that completes its handshake and then never reads again (a stalled peer)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", instance.port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /v1/dojos/{dojo_id}/code?access_token={token} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{instance.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += await loop.sock_recv(sock, 1)
        assert response.startswith(b"HTTP/1.1 101")
        yield sock
    finally:
        sock.close()


async def test_a_client_that_cannot_keep_up_is_dropped_without_stalling_the_room(
    settings: Settings, mint: TokenMint, access: StandInRoomAccess
) -> None:
    tenant = uuid.uuid4()
    dojo = access.dojo(tenant)
    ada, bob, slow = mint.caller(tenant), mint.caller(tenant), mint.caller(tenant)
    dojo.members = {person.user_id: "PARTICIPANT" for person in (ada, bob, slow)}
    async with (
        running_instance(settings, mint, access, limits=LIMITS) as instance,
        python_client(instance.url(dojo.dojo_id, ada.token)) as first,
        python_client(instance.url(dojo.dojo_id, bob.token)) as second,
        never_reading_socket(instance, dojo.dojo_id, slow.token),
    ):
        room = instance.runtime.server.room_of(dojo.dojo_id)
        assert room is not None
        await wait_for(lambda: any(channel.admission.user_id == slow.user_id for channel in room.channels))
        stalled: RoomChannel = next(
            channel for channel in room.channels if channel.admission.user_id == slow.user_id
        )
        chunk = "x" * 40_000 + "\n"
        started = time.monotonic()
        for _ in range(100):  # 4 MB to every client, far more than the stalled socket's buffers,
            first.append(chunk)  # at 40 edits/s, within the typist's own budget
            await asyncio.sleep(1 / 40)

        async def second_has_everything() -> bool:
            return second.code.count(chunk) == 100

        await eventually(second_has_everything, within=20)
        elapsed = time.monotonic() - started
        await wait_for(lambda: stalled.close_reason is not None)
        assert stalled.close_reason is not None
        assert stalled.close_reason.code == "too-slow"
        assert stalled.close_reason.close_code == 1013
        await wait_for(lambda: stalled not in room.channels)
        await assert_room_keeps_working(second, first, "# the room goes on\n")
        assert elapsed < 20
