"""Every query of the session channel: chat, what it reads of a dojo, and (re-exported) snapshots.

The tables belong to the dojo database (`realtime.dojos`, its migrations): this module only
reads the dojo and its participants and writes and reads chat messages. The snapshot statements
are the dojo records' own (`realtime.dojos.repository`), named here too so the channel reads all
of a dojo's history through one module. Functions take the connection of the caller's
`tenant_transaction`, so row-level security decides what exists; the explicit tenant filters only
make the intent readable and let the planner use the tenant-leading indexes. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from realtime.dojos.repository import (
    Connection,
    SnapshotRecord,
    all_snapshots,
    latest_snapshot,
    snapshots_page,
)

__all__ = [
    "UNKNOWN_NAME",
    "ChatRecord",
    "Connection",
    "DojoView",
    "SnapshotRecord",
    "all_chat_messages",
    "all_snapshots",
    "chat_messages_page",
    "insert_chat_message",
    "latest_snapshot",
    "load_dojo",
    "recent_chat_messages",
    "snapshots_page",
]

UNKNOWN_NAME = "?"
"""Shown for a chat author who has no participant row (cannot happen through the channel)."""


@dataclass(frozen=True, slots=True)
class DojoView:
    """A dojo as the session channel needs it, with the caller's place in it (if any)."""

    dojo_id: UUID
    tenant_id: UUID
    creator_id: UUID
    status: str
    language: str
    initial_code: str | None
    started_at: datetime | None
    ended_at: datetime | None
    rotation_minutes: int
    break_every: int
    break_minutes: int
    caller_role: str | None
    """PARTICIPANT or OBSERVER when the caller has (or had) joined; None otherwise."""

    def is_member(self, user_id: UUID) -> bool:
        """Members see the dojo's history: its creator and everyone who joined it, even if they left."""
        return self.creator_id == user_id or self.caller_role is not None


@dataclass(frozen=True, slots=True)
class ChatRecord:
    message_id: UUID
    dojo_id: UUID
    user_id: UUID
    display_name: str
    message: str
    timestamp: datetime


async def load_dojo(
    connection: Connection, tenant_id: UUID, dojo_id: UUID, caller_id: UUID
) -> DojoView | None:
    row = await connection.fetchrow(
        """
        SELECT d.dojo_id, d.tenant_id, d.creator_id, d.status, d.language, d.initial_code,
               d.started_at, d.ended_at, d.rotation_minutes, d.break_every, d.break_minutes,
               p.role AS caller_role
        FROM dojos d
        LEFT JOIN dojo_participants p ON p.dojo_id = d.dojo_id AND p.user_id = $3
        WHERE d.tenant_id = $1 AND d.dojo_id = $2
        """,
        tenant_id,
        dojo_id,
        caller_id,
    )
    return None if row is None else DojoView(**dict(row))


async def insert_chat_message(
    connection: Connection,
    *,
    message_id: UUID,
    tenant_id: UUID,
    dojo_id: UUID,
    user_id: UUID,
    message: str,
    timestamp: datetime,
) -> None:
    await connection.execute(
        """
        INSERT INTO dojo_chat_messages (message_id, tenant_id, dojo_id, user_id, message, timestamp)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        message_id,
        tenant_id,
        dojo_id,
        user_id,
        message,
        timestamp,
    )


_CHAT_COLUMNS = """
    m.message_id, m.dojo_id, m.user_id, COALESCE(p.display_name, $3) AS display_name,
    m.message, m.timestamp
"""
_CHAT_FROM = """
    FROM dojo_chat_messages m
    LEFT JOIN dojo_participants p ON p.dojo_id = m.dojo_id AND p.user_id = m.user_id
    WHERE m.tenant_id = $1 AND m.dojo_id = $2
"""


async def recent_chat_messages(
    connection: Connection, tenant_id: UUID, dojo_id: UUID, limit: int
) -> list[ChatRecord]:
    """The last `limit` messages, oldest first (the order a chat shows them)."""
    rows = await connection.fetch(
        f"""
        SELECT * FROM (
            SELECT {_CHAT_COLUMNS} {_CHAT_FROM}
            ORDER BY m.timestamp DESC, m.message_id DESC
            LIMIT $4
        ) recent
        ORDER BY timestamp, message_id
        """,  # noqa: S608 - fixed fragments, values are parameters
        tenant_id,
        dojo_id,
        UNKNOWN_NAME,
        limit,
    )
    return [ChatRecord(**dict(row)) for row in rows]


async def chat_messages_page(
    connection: Connection, tenant_id: UUID, dojo_id: UUID, *, offset: int, limit: int
) -> tuple[list[ChatRecord], int]:
    """A page of the dojo's chat, oldest first, and how many messages it has."""
    total = await connection.fetchval(
        "SELECT count(*) FROM dojo_chat_messages WHERE tenant_id = $1 AND dojo_id = $2", tenant_id, dojo_id
    )
    rows = await connection.fetch(
        f"""
        SELECT {_CHAT_COLUMNS} {_CHAT_FROM}
        ORDER BY m.timestamp, m.message_id
        OFFSET $4 LIMIT $5
        """,
        tenant_id,
        dojo_id,
        UNKNOWN_NAME,
        offset,
        limit,
    )
    return [ChatRecord(**dict(row)) for row in rows], int(total)


async def all_chat_messages(connection: Connection, tenant_id: UUID, dojo_id: UUID) -> list[ChatRecord]:
    rows = await connection.fetch(
        f"SELECT {_CHAT_COLUMNS} {_CHAT_FROM} ORDER BY m.timestamp, m.message_id",
        tenant_id,
        dojo_id,
        UNKNOWN_NAME,
    )
    return [ChatRecord(**dict(row)) for row in rows]
