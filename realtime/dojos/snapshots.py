"""A dojo's final code: a row in ``dojo_code_snapshots`` and a JSON copy in storage.

The copy follows the seed's S3 layout, ``dojos/{tenant_id}/{dojo_id}/snapshots/{timestamp}.json``,
so a finished dojo can be replayed from storage alone. `LiveCodeFinalSnapshot` is what an end or
a cancel runs by default once committed: it asks the live room for its code
(`realtime.ports.LiveRooms.code_of`) and keeps it as the FINAL snapshot. A session channel that
takes its own snapshots may stand in for it (`realtime.dojos.service.FinalSnapshotTaker`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import structlog

from api.common.storage import BlobStorage
from api.common.tenancy import tenant_transaction
from realtime.dojos import repository
from realtime.dojos.repository import Connection, SnapshotKind, SnapshotRecord
from realtime.ports import LiveRooms

logger = structlog.get_logger(__name__)

MAX_SNAPSHOT_BYTES = 1024 * 1024
"""The database refuses larger code too (``dojo_code_snapshots_code_check``)."""
SNAPSHOT_MEDIA_TYPE = "application/json"


class SnapshotTooLargeError(ValueError):
    """The code is over `MAX_SNAPSHOT_BYTES` (UTF-8); nothing was written."""


def snapshot_key(tenant_id: UUID, dojo_id: UUID, timestamp: datetime) -> str:
    """``dojos/<tenant>/<dojo>/snapshots/20261201T190000123456Z.json``: sorts in time order."""
    return f"dojos/{tenant_id}/{dojo_id}/snapshots/{timestamp.astimezone(UTC):%Y%m%dT%H%M%S%f}Z.json"


def snapshot_document(
    snapshot_id: UUID,
    tenant_id: UUID,
    dojo_id: UUID,
    timestamp: datetime,
    code: str,
    kind: SnapshotKind,
    user_id: UUID | None,
) -> bytes:
    return json.dumps(
        {
            "snapshotId": str(snapshot_id),
            "tenantId": str(tenant_id),
            "dojoId": str(dojo_id),
            "timestamp": timestamp.astimezone(UTC).isoformat(),
            "kind": kind,
            "code": code,
            "userId": None if user_id is None else str(user_id),
        },
        ensure_ascii=False,
    ).encode()


async def record_snapshot(
    connection: Connection,
    storage: BlobStorage,
    *,
    tenant_id: UUID,
    dojo_id: UUID,
    code: str,
    kind: SnapshotKind,
    user_id: UUID | None = None,
    timestamp: datetime | None = None,
) -> SnapshotRecord:
    """Store the copy, then the row (in the caller's transaction).

    A rollback after the copy leaves a file no row names, which a replay never reads; the
    other order could leave a row naming a file that was never written.
    """
    if len(code.encode()) > MAX_SNAPSHOT_BYTES:
        raise SnapshotTooLargeError(f"the code has more than {MAX_SNAPSHOT_BYTES} bytes")
    moment = timestamp or datetime.now(UTC)
    snapshot_id = uuid4()
    key = snapshot_key(tenant_id, dojo_id, moment)
    await storage.put(
        key,
        snapshot_document(snapshot_id, tenant_id, dojo_id, moment, code, kind, user_id),
        content_type=SNAPSHOT_MEDIA_TYPE,
    )
    return await repository.insert_code_snapshot(
        connection,
        tenant_id=tenant_id,
        dojo_id=dojo_id,
        code=code,
        kind=kind,
        timestamp=moment,
        user_id=user_id,
        storage_key=key,
        snapshot_id=snapshot_id,
    )


class LiveCodeFinalSnapshot:
    """`FinalSnapshotTaker`: the live room's code, kept in a transaction of its own.

    No live rooms, or no room open anywhere (nobody ever connected): nothing to keep.
    """

    def __init__(self, engine: Any, storage: BlobStorage, rooms: Callable[[], LiveRooms | None]) -> None:
        self._engine = engine
        self._storage = storage
        self._rooms = rooms

    async def take_final(self, tenant_id: UUID, dojo_id: UUID) -> None:
        live = self._rooms()
        if live is None:
            return
        code = await live.code_of(dojo_id)
        if code is None:
            return
        try:
            async with tenant_transaction(self._engine, tenant_id) as transaction:
                await record_snapshot(
                    transaction.connection,
                    self._storage,
                    tenant_id=tenant_id,
                    dojo_id=dojo_id,
                    code=code,
                    kind="FINAL",
                )
        except SnapshotTooLargeError as exc:
            logger.warning("final snapshot too large", dojo_id=str(dojo_id), error=str(exc))
