"""Fan-out between instances: every room event goes through one Valkey pub/sub channel per dojo.

An instance publishes each event (chat, presence, timer, run results) to the dojo's channel and
delivers to its own sockets only what comes back from Valkey, exactly like every other instance.
So all instances deliver the same events in the same order (Valkey's), and an instance never has
a private, faster path that the others lack.

Besides the room events, the instances' own channel (`INSTANCE_CHANNEL`, which every instance
listens to) carries one control message: ``recheck`` a dojo's open sockets now, because who is
in it changed (`publish_recheck`); each instance other than the sender hands it to `on_recheck`.

One pub/sub connection per instance, subscribed to the dojos that have sockets here. A
subscription is awaited until Valkey confirms it, so a socket that joins never misses an event
published after its welcome was built. valkey-py resubscribes by itself after a reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import structlog

logger = structlog.get_logger(__name__)

KEY_PREFIX = "mrbill:dojo-session"
INSTANCE_CHANNEL = f"{KEY_PREFIX}:instances"
"""Subscribed by every instance from the start, so the pub/sub connection always exists."""
SUBSCRIBE_TIMEOUT_SECONDS = 5.0
LISTEN_TIMEOUT_SECONDS = 1.0
RECONNECT_DELAY_SECONDS = 0.5

Deliver = Callable[[UUID, str], Awaitable[None]]
Recheck = Callable[[UUID], None]


def room_channel(dojo_id: UUID) -> str:
    return f"{KEY_PREFIX}:{dojo_id}:events"


def dojo_of_channel(channel: str) -> UUID | None:
    parts = channel.split(":")
    if len(parts) != 4 or parts[-1] != "events":
        return None
    try:
        return UUID(parts[2])
    except ValueError:
        return None


class Relay:
    """Publishes room events and hands what Valkey delivers to `deliver(dojo_id, frame)`."""

    def __init__(
        self, valkey: Any, deliver: Deliver, *, instance_id: str = "", on_recheck: Recheck | None = None
    ) -> None:
        self._valkey = valkey
        self._deliver = deliver
        self.instance_id = instance_id
        self._on_recheck = on_recheck
        self._pubsub: Any = None
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._subscribed: set[str] = set()
        self._lock = asyncio.Lock()
        self.closing = False
        """Set when the instance stops: the listener ends at its next turn."""

    async def start(self) -> None:
        self.closing = False
        self._pubsub = self._valkey.pubsub()
        await self._pubsub.subscribe(INSTANCE_CHANNEL)

    async def close(self) -> None:
        self.closing = True
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None

    async def publish(self, dojo_id: UUID, frame: str) -> None:
        await self._valkey.publish(room_channel(dojo_id), frame)

    async def publish_recheck(self, dojo_id: UUID) -> None:
        """Ask the other instances to check the dojo's open sockets now (the sender checks its own)."""
        message = json.dumps({"op": "recheck", "dojoId": str(dojo_id), "from": self.instance_id})
        await self._valkey.publish(INSTANCE_CHANNEL, message)

    async def subscribe(self, dojo_id: UUID) -> None:
        """Listen to the dojo's channel; returns once Valkey confirmed the subscription."""
        channel = room_channel(dojo_id)
        async with self._lock:
            if channel in self._subscribed:
                return
            confirmed = asyncio.get_running_loop().create_future()
            self._pending[channel] = confirmed
            await self._pubsub.subscribe(channel)
            self._subscribed.add(channel)
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.warning("pub/sub subscription not confirmed in time", channel=channel)

    async def unsubscribe(self, dojo_id: UUID) -> None:
        channel = room_channel(dojo_id)
        async with self._lock:
            if channel not in self._subscribed:
                return
            self._subscribed.discard(channel)
            await self._pubsub.unsubscribe(channel)

    async def listen(self) -> None:
        """Runs for the instance's lifetime (a task of the runtime's), until `close`."""
        while not self.closing:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=False, timeout=LISTEN_TIMEOUT_SECONDS
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("pub/sub connection failed; retrying", error=repr(exc))
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)
                continue
            if message is None:
                continue
            await self._handle(message)

    async def _handle(self, message: dict[str, Any]) -> None:
        kind, channel = message.get("type"), str(message.get("channel", ""))
        if kind == "subscribe":
            confirmed = self._pending.pop(channel, None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        if kind != "message":
            return
        if channel == INSTANCE_CHANNEL:
            self._control(str(message.get("data", "")))
            return
        dojo_id = dojo_of_channel(channel)
        if dojo_id is None:
            return
        try:
            await self._deliver(dojo_id, str(message["data"]))
        except Exception as exc:  # one bad frame must not stop the instance's fan-out
            logger.error("delivering a room event failed", dojo_id=str(dojo_id), error=repr(exc))

    def _control(self, data: str) -> None:
        try:
            message = json.loads(data)
            if not isinstance(message, dict) or message.get("op") != "recheck":
                return
            dojo_id = UUID(str(message["dojoId"]))
        except (ValueError, KeyError):
            logger.warning("ignored a malformed control message", data=data[:200])
            return
        if self._on_recheck is not None and message.get("from") != self.instance_id:
            self._on_recheck(dojo_id)
