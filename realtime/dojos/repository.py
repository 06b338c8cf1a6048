"""Every query of the dojo database.

Functions take the transaction's connection: the caller's `tenant_transaction` has set the
tenant on it, and row-level security decides what exists. The explicit tenant filters only
make the intent readable and let the planner use the tenant-leading indexes. Nothing here
commits. SQL is written out, as in the other services, so every statement runs on that very
connection (a Piccolo table class is bound to one engine per process).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

Connection = Any
"""An asyncpg connection (asyncpg ships no type information)."""

Role = Literal["PARTICIPANT", "OBSERVER"]
SnapshotKind = Literal["PERIODIC", "FINAL", "MANUAL"]

JOIN_CODE_INDEX = "idx_dojos_join_code"

DOJO_COLUMNS = (
    "d.dojo_id, d.tenant_id, d.creator_id, d.name, d.description, d.language, d.max_participants,"
    " d.is_private, d.scheduled_start_time, d.initial_code, d.join_code, d.status, d.created_at,"
    " d.started_at, d.ended_at, d.updated_at, d.version, d.rotation_minutes, d.break_every,"
    " d.break_minutes,"
    " (SELECT count(*) FROM dojo_participants p WHERE p.dojo_id = d.dojo_id AND p.leave_time IS NULL"
    "   AND p.role = 'PARTICIPANT') AS participant_count,"
    " (SELECT count(*) FROM dojo_participants p WHERE p.dojo_id = d.dojo_id AND p.leave_time IS NULL"
    "   AND p.role = 'OBSERVER') AS observer_count,"
    " (SELECT p.display_name FROM dojo_participants p WHERE p.dojo_id = d.dojo_id"
    "   AND p.user_id = d.creator_id) AS creator_name"
)
PARTICIPANT_COLUMNS = (
    "dojo_id, user_id, role, display_name, join_time, leave_time, last_active_time, removed_at"
)
UPDATABLE_COLUMNS = frozenset(
    {
        "name",
        "description",
        "language",
        "max_participants",
        "is_private",
        "scheduled_start_time",
        "initial_code",
        "join_code",
        "status",
        "started_at",
        "ended_at",
        "rotation_minutes",
        "break_every",
        "break_minutes",
    }
)
STATUS_ORDER = "CASE d.status WHEN 'ACTIVE' THEN 0 WHEN 'SCHEDULED' THEN 1 WHEN 'COMPLETED' THEN 2 ELSE 3 END"


class JoinCodeTakenError(Exception):
    """The join code drawn is already some dojo's (of any tenant): draw another."""


@dataclass(frozen=True, slots=True)
class DojoRecord:
    dojo_id: UUID
    tenant_id: UUID
    creator_id: UUID
    name: str
    description: str | None
    language: str
    max_participants: int
    is_private: bool
    scheduled_start_time: datetime | None
    initial_code: str | None
    join_code: str
    status: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    updated_at: datetime
    version: int
    rotation_minutes: int
    break_every: int
    break_minutes: int
    participant_count: int
    """PARTICIPANTs in the dojo now (observers are counted apart)."""
    observer_count: int
    creator_name: str | None

    @property
    def is_finished(self) -> bool:
        return self.status in ("COMPLETED", "CANCELLED")


@dataclass(frozen=True, slots=True)
class ParticipantRecord:
    dojo_id: UUID
    user_id: UUID
    role: Role
    display_name: str
    join_time: datetime
    leave_time: datetime | None
    last_active_time: datetime | None
    removed_at: datetime | None = None
    """The facilitator removed the person: they may not join this dojo again."""

    @property
    def is_present(self) -> bool:
        """In the dojo now (a row with ``leave_time`` is history)."""
        return self.leave_time is None

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None


@dataclass(frozen=True, slots=True)
class NewDojo:
    tenant_id: UUID
    creator_id: UUID
    name: str
    language: str
    join_code: str
    max_participants: int
    is_private: bool
    rotation_minutes: int
    break_every: int
    break_minutes: int
    description: str | None = None
    scheduled_start_time: datetime | None = None
    initial_code: str | None = None


@dataclass(frozen=True, slots=True)
class DojoQuery:
    """A page of the dojos `viewer_id` may see: public ones, their own, and those they took part in."""

    tenant_id: UUID
    viewer_id: UUID
    statuses: tuple[str, ...] = ("ACTIVE", "SCHEDULED")
    language: str | None = None
    text: str | None = None
    mine: bool = False
    """Only dojos the viewer created or is in now."""
    limit: int = 20
    offset: int = 0


@dataclass(slots=True)
class _Params:
    """Positional parameters for hand-written SQL: ``params.add(value)`` returns ``$n``."""

    values: list[Any] = field(default_factory=list)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _dojo(row: Mapping[str, Any]) -> DojoRecord:
    return DojoRecord(
        dojo_id=row["dojo_id"],
        tenant_id=row["tenant_id"],
        creator_id=row["creator_id"],
        name=row["name"],
        description=row["description"],
        language=row["language"],
        max_participants=row["max_participants"],
        is_private=row["is_private"],
        scheduled_start_time=row["scheduled_start_time"],
        initial_code=row["initial_code"],
        join_code=row["join_code"],
        status=row["status"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        rotation_minutes=row["rotation_minutes"],
        break_every=row["break_every"],
        break_minutes=row["break_minutes"],
        participant_count=int(row["participant_count"]),
        observer_count=int(row["observer_count"]),
        creator_name=row["creator_name"],
    )


def _participant(row: Mapping[str, Any]) -> ParticipantRecord:
    return ParticipantRecord(
        dojo_id=row["dojo_id"],
        user_id=row["user_id"],
        role=row["role"],
        display_name=row["display_name"],
        join_time=row["join_time"],
        leave_time=row["leave_time"],
        last_active_time=row["last_active_time"],
        removed_at=row["removed_at"],
    )


# -- dojos -----------------------------------------------------------------------------------------


async def fetch_dojo(connection: Connection, dojo_id: UUID, *, lock: bool = False) -> DojoRecord | None:
    """The dojo whatever its visibility; `lock` holds its row until the transaction ends.

    The lock is taken by a statement of its own, so the counts read next are those of a snapshot
    taken after any concurrent join committed (under READ COMMITTED a locking read would still
    count with the snapshot it started with).
    """
    if (
        lock
        and await connection.fetchval("SELECT 1 FROM dojos WHERE dojo_id = $1 FOR UPDATE", dojo_id) is None
    ):
        return None
    row = await connection.fetchrow(
        f"SELECT {DOJO_COLUMNS} FROM dojos d WHERE d.dojo_id = $1",  # noqa: S608 - fixed columns
        dojo_id,
    )
    return None if row is None else _dojo(row)


async def dojo_id_for_join_code(connection: Connection, join_code: str) -> UUID | None:
    """The dojo of the tenant whose code this is (another tenant's code matches nothing here)."""
    dojo_id: UUID | None = await connection.fetchval(
        "SELECT dojo_id FROM dojos WHERE join_code = $1", join_code
    )
    return dojo_id


async def insert_dojo(connection: Connection, dojo: NewDojo) -> DojoRecord:
    """`JoinCodeTakenError` when the code is some dojo's already; the transaction stays usable."""
    try:
        async with connection.transaction():  # a savepoint: a taken code must not abort the request
            dojo_id = await connection.fetchval(
                """
                INSERT INTO dojos (tenant_id, creator_id, name, description, language, max_participants,
                                   is_private, scheduled_start_time, initial_code, join_code,
                                   rotation_minutes, break_every, break_minutes)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                RETURNING dojo_id
                """,
                dojo.tenant_id,
                dojo.creator_id,
                dojo.name,
                dojo.description,
                dojo.language,
                dojo.max_participants,
                dojo.is_private,
                dojo.scheduled_start_time,
                dojo.initial_code,
                dojo.join_code,
                dojo.rotation_minutes,
                dojo.break_every,
                dojo.break_minutes,
            )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == JOIN_CODE_INDEX:
            raise JoinCodeTakenError(dojo.join_code) from exc
        raise
    created = await fetch_dojo(connection, dojo_id)
    if created is None:  # pragma: no cover - just inserted in this transaction
        raise LookupError(dojo_id)
    return created


async def update_dojo(connection: Connection, dojo_id: UUID, changes: Mapping[str, Any]) -> int:
    """Apply `changes` (column -> value), bump the version and return the new one.

    Every change of a dojo goes through here or `bump_version`, so the version always grows.
    A new ``join_code`` that is taken raises `JoinCodeTakenError` with the transaction intact.
    """
    unknown = set(changes) - UPDATABLE_COLUMNS
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    params = _Params()
    dojo_param = params.add(dojo_id)
    assignments = [f"{column} = {params.add(value)}" for column, value in changes.items()]
    assignments += ["version = version + 1", "updated_at = now()"]
    try:
        async with connection.transaction():
            version = await connection.fetchval(
                f"UPDATE dojos SET {', '.join(assignments)} WHERE dojo_id = {dojo_param}"  # noqa: S608
                " RETURNING version",
                *params.values,
            )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == JOIN_CODE_INDEX:
            raise JoinCodeTakenError(changes.get("join_code")) from exc
        raise
    if version is None:
        raise LookupError(dojo_id)
    return int(version)


async def bump_version(connection: Connection, dojo_id: UUID) -> int:
    """Who is in a dojo is part of it (the search shows how many take part)."""
    return await update_dojo(connection, dojo_id, {})


def _visible_clause(params: _Params, viewer_id: UUID) -> str:
    viewer = params.add(viewer_id)
    return (
        f"(NOT d.is_private OR d.creator_id = {viewer} OR EXISTS (SELECT 1 FROM dojo_participants v"  # noqa: S608
        f" WHERE v.dojo_id = d.dojo_id AND v.user_id = {viewer}))"
    )


def _where(query: DojoQuery, params: _Params) -> str:
    clauses = [f"d.tenant_id = {params.add(query.tenant_id)}", _visible_clause(params, query.viewer_id)]
    if query.statuses:
        clauses.append(f"d.status = ANY({params.add(list(query.statuses))}::text[])")
    if query.language is not None:
        clauses.append(f"d.language = {params.add(query.language)}")
    if query.text:
        pattern = params.add(like_pattern(query.text))
        clauses.append(f"(d.name ILIKE {pattern} OR d.description ILIKE {pattern})")
    if query.mine:
        viewer = params.add(query.viewer_id)
        clauses.append(
            f"(d.creator_id = {viewer} OR EXISTS (SELECT 1 FROM dojo_participants m"  # noqa: S608
            f" WHERE m.dojo_id = d.dojo_id AND m.user_id = {viewer} AND m.leave_time IS NULL))"
        )
    return " AND ".join(clauses)


async def list_dojos(connection: Connection, query: DojoQuery) -> tuple[list[DojoRecord], int]:
    """One page, in progress first, then by scheduled start (unscheduled last), and the total."""
    params = _Params()
    where = _where(query, params)
    total = await connection.fetchval(f"SELECT count(*) FROM dojos d WHERE {where}", *params.values)  # noqa: S608
    if not total or query.offset >= total:
        return [], int(total or 0)
    limit, offset = params.add(query.limit), params.add(query.offset)
    rows = await connection.fetch(
        f"SELECT {DOJO_COLUMNS} FROM dojos d WHERE {where}"  # noqa: S608 - parameters only
        f" ORDER BY {STATUS_ORDER}, d.scheduled_start_time ASC NULLS LAST, d.created_at DESC, d.dojo_id"
        f" LIMIT {limit} OFFSET {offset}",
        *params.values,
    )
    return [_dojo(row) for row in rows], int(total)


# -- participants ------------------------------------------------------------------------------------


async def fetch_participant(connection: Connection, dojo_id: UUID, user_id: UUID) -> ParticipantRecord | None:
    """The person's row in the dojo, present or left."""
    row = await connection.fetchrow(
        f"SELECT {PARTICIPANT_COLUMNS} FROM dojo_participants WHERE dojo_id = $1 AND user_id = $2",  # noqa: S608
        dojo_id,
        user_id,
    )
    return None if row is None else _participant(row)


async def participants_of(connection: Connection, dojo_id: UUID) -> list[ParticipantRecord]:
    """Who is in the dojo now, in the order they joined."""
    rows = await connection.fetch(
        f"SELECT {PARTICIPANT_COLUMNS} FROM dojo_participants"  # noqa: S608 - fixed columns
        " WHERE dojo_id = $1 AND leave_time IS NULL ORDER BY join_time, user_id",
        dojo_id,
    )
    return [_participant(row) for row in rows]


async def put_participant(
    connection: Connection, tenant_id: UUID, dojo_id: UUID, user_id: UUID, role: Role, display_name: str
) -> ParticipantRecord:
    """Make the person present with `role`; one who had left comes back with a new join time."""
    row = await connection.fetchrow(
        f"""
        INSERT INTO dojo_participants AS p (tenant_id, dojo_id, user_id, role, display_name)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (dojo_id, user_id) DO UPDATE
          SET role = EXCLUDED.role,
              display_name = EXCLUDED.display_name,
              join_time = CASE WHEN p.leave_time IS NULL THEN p.join_time ELSE now() END,
              leave_time = NULL
        RETURNING {PARTICIPANT_COLUMNS}
        """,  # noqa: S608 - fixed columns
        tenant_id,
        dojo_id,
        user_id,
        role,
        display_name,
    )
    return _participant(row)


async def mark_left(connection: Connection, dojo_id: UUID, user_id: UUID) -> bool:
    status: str = await connection.execute(
        "UPDATE dojo_participants SET leave_time = now()"
        " WHERE dojo_id = $1 AND user_id = $2 AND leave_time IS NULL",
        dojo_id,
        user_id,
    )
    return status.endswith(" 1")


async def mark_removed(connection: Connection, dojo_id: UUID, user_id: UUID) -> bool:
    """The facilitator removed the person: out of the dojo now (if still in) and barred from it."""
    status: str = await connection.execute(
        "UPDATE dojo_participants SET removed_at = now(), leave_time = COALESCE(leave_time, now())"
        " WHERE dojo_id = $1 AND user_id = $2 AND removed_at IS NULL",
        dojo_id,
        user_id,
    )
    return status.endswith(" 1")


async def set_role(connection: Connection, dojo_id: UUID, user_id: UUID, role: Role) -> bool:
    """A present person's role; the caller checked the dojo's limits under its row lock."""
    status: str = await connection.execute(
        "UPDATE dojo_participants SET role = $3 WHERE dojo_id = $1 AND user_id = $2 AND leave_time IS NULL",
        dojo_id,
        user_id,
        role,
    )
    return status.endswith(" 1")


async def touch_participant(connection: Connection, dojo_id: UUID, user_id: UUID) -> bool:
    """``last_active_time`` is now; not a change of the dojo (no new version)."""
    status: str = await connection.execute(
        "UPDATE dojo_participants SET last_active_time = now() WHERE dojo_id = $1 AND user_id = $2",
        dojo_id,
        user_id,
    )
    return status.endswith(" 1")


async def latest_display_name(connection: Connection, tenant_id: UUID, user_id: UUID) -> str | None:
    """The name the person last joined any of the tenant's dojos with."""
    name: str | None = await connection.fetchval(
        "SELECT display_name FROM dojo_participants WHERE tenant_id = $1 AND user_id = $2"
        " ORDER BY join_time DESC LIMIT 1",
        tenant_id,
        user_id,
    )
    return name


# -- snapshots ---------------------------------------------------------------------------------------------
# Taken by the session channel (`realtime.session.snapshots`), stored through `realtime.dojos.snapshots`;
# these are the table's only statements.


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    snapshot_id: UUID
    dojo_id: UUID
    timestamp: datetime
    code: str
    user_id: UUID | None
    """None for snapshots the service takes by itself (periodic, final)."""
    kind: SnapshotKind
    storage_key: str | None


SNAPSHOT_COLUMNS = "snapshot_id, dojo_id, timestamp, code, user_id, kind, storage_key"
SNAPSHOT_ORDER = "timestamp, snapshot_id"
"""Oldest first: the order a replay walks them in."""


def _snapshot(row: Mapping[str, Any]) -> SnapshotRecord:
    return SnapshotRecord(
        snapshot_id=row["snapshot_id"],
        dojo_id=row["dojo_id"],
        timestamp=row["timestamp"],
        code=row["code"],
        user_id=row["user_id"],
        kind=row["kind"],
        storage_key=row["storage_key"],
    )


async def insert_code_snapshot(
    connection: Connection,
    *,
    tenant_id: UUID,
    dojo_id: UUID,
    code: str,
    kind: SnapshotKind,
    timestamp: datetime,
    user_id: UUID | None = None,
    storage_key: str | None = None,
    snapshot_id: UUID | None = None,
) -> SnapshotRecord:
    """`snapshot_id` is given when the storage copy, written first, already names it."""
    row = await connection.fetchrow(
        f"""
        INSERT INTO dojo_code_snapshots (snapshot_id, tenant_id, dojo_id, timestamp, code, user_id, kind,
                                         storage_key)
        VALUES (COALESCE($1, gen_random_uuid()), $2, $3, $4, $5, $6, $7, $8)
        RETURNING {SNAPSHOT_COLUMNS}
        """,  # noqa: S608 - fixed columns
        snapshot_id,
        tenant_id,
        dojo_id,
        timestamp,
        code,
        user_id,
        kind,
        storage_key,
    )
    return _snapshot(row)


async def all_snapshots(connection: Connection, tenant_id: UUID, dojo_id: UUID) -> list[SnapshotRecord]:
    """Every snapshot of the dojo, oldest first (a replay needs them all)."""
    rows = await connection.fetch(
        f"SELECT {SNAPSHOT_COLUMNS} FROM dojo_code_snapshots"  # noqa: S608 - fixed columns
        f" WHERE tenant_id = $1 AND dojo_id = $2 ORDER BY {SNAPSHOT_ORDER}",
        tenant_id,
        dojo_id,
    )
    return [_snapshot(row) for row in rows]


async def snapshots_page(
    connection: Connection, tenant_id: UUID, dojo_id: UUID, *, offset: int, limit: int
) -> tuple[list[SnapshotRecord], int]:
    """A page of the dojo's snapshots, oldest first, and how many it has."""
    total = await connection.fetchval(
        "SELECT count(*) FROM dojo_code_snapshots WHERE tenant_id = $1 AND dojo_id = $2", tenant_id, dojo_id
    )
    rows = await connection.fetch(
        f"SELECT {SNAPSHOT_COLUMNS} FROM dojo_code_snapshots"  # noqa: S608 - fixed columns
        f" WHERE tenant_id = $1 AND dojo_id = $2 ORDER BY {SNAPSHOT_ORDER} OFFSET $3 LIMIT $4",
        tenant_id,
        dojo_id,
        offset,
        limit,
    )
    return [_snapshot(row) for row in rows], int(total)


async def latest_snapshot(connection: Connection, tenant_id: UUID, dojo_id: UUID) -> SnapshotRecord | None:
    """The dojo's code as last kept: what stands in for a live room that is gone."""
    row = await connection.fetchrow(
        f"SELECT {SNAPSHOT_COLUMNS} FROM dojo_code_snapshots"  # noqa: S608 - fixed columns
        " WHERE tenant_id = $1 AND dojo_id = $2 ORDER BY timestamp DESC, snapshot_id DESC LIMIT 1",
        tenant_id,
        dojo_id,
    )
    return None if row is None else _snapshot(row)
