"""Snapshots of a dojo's code: every N seconds while it runs and the code changed, and one at the end.

This is the only place that takes them. Each one is kept as the dojo records keep it
(`realtime.dojos.snapshots.store_snapshot`): a row of ``dojo_code_snapshots`` and a JSON object in
storage under the seed's layout, ``dojos/{tenant_id}/{dojo_id}/snapshots/{timestamp}Z.json``.

The running dojos are listed in Valkey (added when a socket joins an ACTIVE dojo, removed when
it ends), so every instance sees them all; for each interval, whichever instance takes the
dojo's lease first takes the snapshot, so two instances never double it. "Changed" is judged by
a digest of the last snapshot's text, kept in Valkey too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog

from api.common.storage import BlobStorage
from api.common.tenancy import tenant_transaction
from realtime.dojos.repository import SnapshotKind, SnapshotRecord, latest_snapshot
from realtime.dojos.snapshots import store_snapshot
from realtime.ports import LiveRooms
from realtime.session.relay import KEY_PREFIX

logger = structlog.get_logger(__name__)

ACTIVE_KEY = f"{KEY_PREFIX}:active-dojos"
"""Hash: dojo id to its tenant id, for every dojo a socket joined while it was ACTIVE."""


def _digest_key(dojo_id: UUID) -> str:
    return f"{KEY_PREFIX}:{dojo_id}:snapshot:digest"


def _lease_key(dojo_id: UUID) -> str:
    return f"{KEY_PREFIX}:{dojo_id}:snapshot:lease"


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ActiveDojo:
    dojo_id: UUID
    tenant_id: UUID


class SnapshotService:
    def __init__(
        self, valkey: Any, engine: Any, storage: BlobStorage, live: LiveRooms, interval_seconds: float
    ) -> None:
        self._valkey = valkey
        self._engine = engine
        self._storage = storage
        self._live = live
        self.interval_seconds = interval_seconds

    # -- the running dojos --------------------------------------------------------------------------

    async def register(self, tenant_id: UUID, dojo_id: UUID) -> None:
        await self._valkey.hset(ACTIVE_KEY, str(dojo_id), str(tenant_id))

    async def unregister(self, dojo_id: UUID) -> None:
        async with self._valkey.pipeline(transaction=True) as pipe:
            pipe.hdel(ACTIVE_KEY, str(dojo_id))
            pipe.delete(_digest_key(dojo_id), _lease_key(dojo_id))
            await pipe.execute()

    async def active(self) -> list[ActiveDojo]:
        raw: dict[str, str] = await self._valkey.hgetall(ACTIVE_KEY)
        dojos: list[ActiveDojo] = []
        for dojo_id, tenant_id in raw.items():
            try:
                dojos.append(ActiveDojo(UUID(dojo_id), UUID(tenant_id)))
            except ValueError:
                await self._valkey.hdel(ACTIVE_KEY, dojo_id)
        return dojos

    async def tenant_of(self, dojo_id: UUID) -> UUID | None:
        raw = await self._valkey.hget(ACTIVE_KEY, str(dojo_id))
        return None if raw is None else UUID(raw)

    # -- taking snapshots ----------------------------------------------------------------------------

    async def snapshot_due(self, dojo: ActiveDojo, holder: str) -> SnapshotRecord | None:
        """The interval's snapshot, by whichever instance takes the lease first."""
        taken = await self._valkey.set(
            _lease_key(dojo.dojo_id), holder, nx=True, px=int(self.interval_seconds * 1000)
        )
        if not taken:
            return None
        return await self.take(dojo.tenant_id, dojo.dojo_id, "PERIODIC")

    async def take(
        self, tenant_id: UUID, dojo_id: UUID, kind: SnapshotKind, *, user_id: UUID | None = None
    ) -> SnapshotRecord | None:
        """A snapshot of the code as the live room has it now; a periodic one only when it changed.

        The final one falls back to the last snapshot's text when the room is already closed, so a
        finished dojo's history always ends with its FINAL snapshot.
        """
        code = await self._live.code_of(dojo_id)
        if code is None and kind == "FINAL":
            async with tenant_transaction(self._engine, tenant_id) as transaction:
                latest = await latest_snapshot(transaction.connection, tenant_id, dojo_id)
            code = None if latest is None else latest.code
        if code is None:
            return None
        digest = _digest(code)
        if kind == "PERIODIC" and await self._valkey.get(_digest_key(dojo_id)) == digest:
            return None
        record = await store_snapshot(
            self._engine,
            self._storage,
            tenant_id=tenant_id,
            dojo_id=dojo_id,
            code=code,
            kind=kind,
            user_id=user_id,
        )
        await self._valkey.set(_digest_key(dojo_id), digest, ex=7 * 24 * 3600)
        logger.info("dojo snapshot", dojo_id=str(dojo_id), kind=kind, characters=len(code))
        return record
