"""How a snapshot of a dojo's code is kept: a row of ``dojo_code_snapshots`` and a JSON copy in storage.

The copy follows the seed's S3 layout, ``dojos/{tenant_id}/{dojo_id}/snapshots/{timestamp}Z.json``,
so a finished dojo can be replayed from storage alone. When snapshots are taken (every interval
while the code changes, and the FINAL one when the dojo ends) is the session channel's business
(`realtime.session.snapshots`); this module only says where and in what shape one is kept, and
keeps it, so the layout and the document are written in one place.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from api.common.schemas import CamelStruct
from api.common.storage import BlobStorage
from api.common.tenancy import tenant_transaction
from realtime.dojos import repository
from realtime.dojos.repository import SnapshotKind, SnapshotRecord

MAX_SNAPSHOT_BYTES = 1024 * 1024
"""The database refuses larger code too (``dojo_code_snapshots_code_check``)."""
SNAPSHOT_MEDIA_TYPE = "application/json"


class SnapshotTooLargeError(ValueError):
    """The code is over `MAX_SNAPSHOT_BYTES` (UTF-8); nothing was written."""


class SnapshotDocument(CamelStruct):
    """What storage keeps of a snapshot: enough to replay it without the database."""

    snapshot_id: UUID
    tenant_id: UUID
    dojo_id: UUID
    timestamp: datetime
    kind: SnapshotKind
    code: str
    user_id: UUID | None = None


def snapshot_key(tenant_id: UUID, dojo_id: UUID, at: datetime) -> str:
    """``dojos/<tenant>/<dojo>/snapshots/20261201T190000123456Z.json``: in UTC, so keys sort in time order."""
    return f"dojos/{tenant_id}/{dojo_id}/snapshots/{at.astimezone(UTC):%Y%m%dT%H%M%S%f}Z.json"


async def store_snapshot(
    engine: Any,
    storage: BlobStorage,
    *,
    tenant_id: UUID,
    dojo_id: UUID,
    code: str,
    kind: SnapshotKind,
    user_id: UUID | None = None,
) -> SnapshotRecord:
    """The storage copy first, then the row, in a transaction of its own.

    A row that cannot be written takes its copy away again, so no row ever names a missing copy
    and no copy lingers that no row names.
    """
    if len(code.encode()) > MAX_SNAPSHOT_BYTES:
        raise SnapshotTooLargeError(f"the code has more than {MAX_SNAPSHOT_BYTES} bytes")
    now = datetime.now(UTC)
    document = SnapshotDocument(
        snapshot_id=uuid.uuid4(),
        tenant_id=tenant_id,
        dojo_id=dojo_id,
        timestamp=now,
        kind=kind,
        code=code,
        user_id=user_id,
    )
    key = snapshot_key(tenant_id, dojo_id, now)
    await storage.put(key, msgspec.json.encode(document), SNAPSHOT_MEDIA_TYPE)
    try:
        async with tenant_transaction(engine, tenant_id) as transaction:
            return await repository.insert_code_snapshot(
                transaction.connection,
                snapshot_id=document.snapshot_id,
                tenant_id=tenant_id,
                dojo_id=dojo_id,
                timestamp=now,
                code=code,
                kind=kind,
                storage_key=key,
                user_id=user_id,
            )
    except BaseException:
        await storage.delete(key)
        raise
