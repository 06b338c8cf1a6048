"""Who is connected to a dojo's session, on every instance, kept in Valkey.

Each socket is one entry: a hash field (who it is) and a score in a sorted set (until when the
entry counts). Its instance pushes that time forward every few seconds while the socket lives
and removes the entry when it closes; the entries of an instance that crashed simply run out,
and whoever reads the room next prunes them. People with several tabs appear once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from realtime.session.protocol import PresenceMember
from realtime.session.relay import KEY_PREFIX


class PresenceEntry(msgspec.Struct, frozen=True):
    connection_id: str
    user_id: UUID
    display_name: str
    role: str
    facilitator: bool
    instance_id: str
    connected_at: float
    """Epoch seconds."""


_entry_decoder = msgspec.json.Decoder(PresenceEntry)


def _members_key(dojo_id: UUID) -> str:
    return f"{KEY_PREFIX}:{dojo_id}:presence"


def _expiry_key(dojo_id: UUID) -> str:
    return f"{KEY_PREFIX}:{dojo_id}:presence:expiry"


class Presence:
    def __init__(self, valkey: Any, ttl_seconds: float) -> None:
        self._valkey = valkey
        self.ttl_seconds = ttl_seconds

    def _expires_at(self) -> float:
        return time.time() + self.ttl_seconds

    def _key_ttl(self) -> int:
        """The keys themselves outlive their entries a little, so an abandoned room cleans itself."""
        return int(self.ttl_seconds * 4) + 1

    async def add(self, dojo_id: UUID, entry: PresenceEntry) -> None:
        async with self._valkey.pipeline(transaction=True) as pipe:
            pipe.hset(_members_key(dojo_id), entry.connection_id, msgspec.json.encode(entry).decode())
            pipe.zadd(_expiry_key(dojo_id), {entry.connection_id: self._expires_at()})
            pipe.expire(_members_key(dojo_id), self._key_ttl())
            pipe.expire(_expiry_key(dojo_id), self._key_ttl())
            await pipe.execute()

    async def remove(self, dojo_id: UUID, connection_id: str) -> None:
        async with self._valkey.pipeline(transaction=True) as pipe:
            pipe.hdel(_members_key(dojo_id), connection_id)
            pipe.zrem(_expiry_key(dojo_id), connection_id)
            await pipe.execute()

    async def refresh(self, rooms: Iterable[tuple[UUID, Sequence[str]]]) -> None:
        """Push forward the entries of this instance's sockets (one round trip for all rooms)."""
        expires_at = self._expires_at()
        async with self._valkey.pipeline(transaction=False) as pipe:
            queued = False
            for dojo_id, connection_ids in rooms:
                if not connection_ids:
                    continue
                pipe.zadd(_expiry_key(dojo_id), dict.fromkeys(connection_ids, expires_at), xx=True)
                pipe.expire(_members_key(dojo_id), self._key_ttl())
                pipe.expire(_expiry_key(dojo_id), self._key_ttl())
                queued = True
            if queued:
                await pipe.execute()

    async def prune(self, dojo_id: UUID) -> int:
        """Forget entries nobody refreshed (their instance is gone); how many there were."""
        now = time.time()
        stale: list[str] = await self._valkey.zrangebyscore(_expiry_key(dojo_id), "-inf", now)
        if not stale:
            return 0
        async with self._valkey.pipeline(transaction=True) as pipe:
            pipe.zrem(_expiry_key(dojo_id), *stale)
            pipe.hdel(_members_key(dojo_id), *stale)
            await pipe.execute()
        return len(stale)

    async def entries(self, dojo_id: UUID) -> list[PresenceEntry]:
        """Live entries, oldest connection first."""
        now = time.time()
        async with self._valkey.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(_expiry_key(dojo_id), now, "+inf")
            pipe.hgetall(_members_key(dojo_id))
            live, raw = await pipe.execute()
        alive = set(live)
        entries = [_entry_decoder.decode(value) for key, value in raw.items() if key in alive]
        return sorted(entries, key=lambda entry: (entry.connected_at, entry.connection_id))

    async def participant_ids(self, dojo_id: UUID) -> set[UUID]:
        return {entry.user_id for entry in await self.entries(dojo_id) if entry.role == "PARTICIPANT"}


def members_of(entries: Sequence[PresenceEntry], driver_id: UUID | None) -> list[PresenceMember]:
    """One member per person, in the order they first connected."""
    members: dict[UUID, PresenceMember] = {}
    for entry in entries:
        member = members.get(entry.user_id)
        if member is None:
            members[entry.user_id] = PresenceMember(
                user_id=entry.user_id,
                display_name=entry.display_name,
                role=entry.role,
                facilitator=entry.facilitator,
                connections=1,
                since=datetime.fromtimestamp(entry.connected_at, UTC),
                driving=entry.user_id == driver_id,
            )
        else:
            member.connections += 1
    return list(members.values())
