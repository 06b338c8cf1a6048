"""Bodies of the session's REST routes: a dojo's snapshots, its chat and its replay."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from api.common.schemas import CamelStruct
from realtime.session.repository import SnapshotRecord


class SnapshotOut(CamelStruct):
    snapshot_id: UUID
    dojo_id: UUID
    timestamp: datetime
    kind: str
    """PERIODIC (every few seconds while the code changes), FINAL (when the dojo ended) or MANUAL."""
    code: str
    user_id: UUID | None
    storage_key: str | None

    @classmethod
    def of(cls, record: SnapshotRecord) -> SnapshotOut:
        return cls(
            snapshot_id=record.snapshot_id,
            dojo_id=record.dojo_id,
            timestamp=record.timestamp,
            kind=record.kind,
            code=record.code,
            user_id=record.user_id,
            storage_key=record.storage_key,
        )


class ReplayEvent(CamelStruct):
    """One step of a dojo's history: the code at a moment (``snapshot``) or a chat line (``chat``)."""

    type: Literal["snapshot", "chat"]
    at: datetime
    snapshot_id: UUID | None = None
    kind: str | None = None
    code: str | None = None
    message_id: UUID | None = None
    user_id: UUID | None = None
    display_name: str | None = None
    message: str | None = None


class ReplayOut(CamelStruct):
    """A finished dojo's history in time order, for a client to play back: start from
    ``initialCode`` at ``startedAt``, then apply each event at its ``at``."""

    dojo_id: UUID
    status: str
    language: str
    initial_code: str
    started_at: datetime | None
    ended_at: datetime | None
    events: list[ReplayEvent]
    final_code: str
