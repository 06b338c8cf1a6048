"""Every query of the content service, for the API and for the workflows' activities.

Functions take a connection inside `tenant_transaction` (the caller owns the transaction):
row-level security decides what exists, and the explicit tenant filters only let the planner
use the tenant-leading indexes. Nothing here commits.

The request's life is a small state machine, enforced in SQL so concurrent writers (the API
cancelling, an activity retried after a timeout) cannot break it::

    PENDING -> PROCESSING -> COMPLETED
        \\            \\-----> FAILED
         \\------------------> CANCELLED

A terminal state (COMPLETED, FAILED, CANCELLED) is never left, and progress never goes back.
The ``type`` of a request (REPORT, later VIDEO) is a parameter of every list and count, so
videos share this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

Connection = Any
"""An asyncpg connection (asyncpg ships no type information)."""

STATUSES: tuple[str, ...] = ("PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED")
ACTIVE_STATUSES: tuple[str, ...] = ("PENDING", "PROCESSING")
TERMINAL_STATUSES: tuple[str, ...] = ("COMPLETED", "FAILED", "CANCELLED")
QUEUE_UNAVAILABLE = "QUEUE_UNAVAILABLE"
"""The ``error_code`` of a request whose workflow could not be started."""
MAX_ERROR_CODE_LENGTH = 64
MAX_STEP_LENGTH = 40

REQUEST_COLUMNS = (
    "request_id, tenant_id, user_id, type, status, title, description, from_date, to_date, parameters,"
    " locale, format, workflow_id, idempotency_key, request_hash, step, progress, poc_count, result_key,"
    " result_media_type, result_size, thumbnail_key, error_code, error_message, created_at, updated_at,"
    " started_at, completed_at, cancel_requested_at"
)
_ACTIVE = "status IN ('PENDING', 'PROCESSING')"


@dataclass(frozen=True, slots=True)
class ContentRequestRecord:
    """One row of ``content_requests``, with ``parameters`` decoded."""

    request_id: UUID
    tenant_id: UUID
    user_id: UUID
    type: str
    status: str
    title: str
    description: str | None
    from_date: datetime | None
    to_date: datetime | None
    parameters: dict[str, Any]
    locale: str
    format: str
    workflow_id: str
    idempotency_key: str | None
    request_hash: str | None
    step: str | None
    progress: int
    poc_count: int | None
    result_key: str | None
    result_media_type: str | None
    result_size: int | None
    thumbnail_key: str | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancel_requested_at: datetime | None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class NewContentRequest:
    request_id: UUID
    tenant_id: UUID
    user_id: UUID
    type: str
    title: str
    locale: str
    format: str
    workflow_id: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    from_date: datetime | None = None
    to_date: datetime | None = None
    description: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """One page of a user's requests of one type, newest first; the other fields narrow it."""

    tenant_id: UUID
    user_id: UUID
    type: str
    statuses: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None
    limit: int = 20
    offset: int = 0


@dataclass(slots=True)
class _Params:
    """Positional parameters for hand-written SQL: ``params.add(value)`` returns ``$n``."""

    values: list[Any] = field(default_factory=list)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _parameters(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return dict(value or {})


def _record(row: Mapping[str, Any]) -> ContentRequestRecord:
    return ContentRequestRecord(
        request_id=row["request_id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        type=row["type"],
        status=row["status"],
        title=row["title"],
        description=row["description"],
        from_date=row["from_date"],
        to_date=row["to_date"],
        parameters=_parameters(row["parameters"]),
        locale=row["locale"],
        format=row["format"],
        workflow_id=row["workflow_id"],
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        step=row["step"],
        progress=row["progress"],
        poc_count=row["poc_count"],
        result_key=row["result_key"],
        result_media_type=row["result_media_type"],
        result_size=row["result_size"],
        thumbnail_key=row["thumbnail_key"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        cancel_requested_at=row["cancel_requested_at"],
    )


def _optional(row: Mapping[str, Any] | None) -> ContentRequestRecord | None:
    return None if row is None else _record(row)


# -- the API's side ---------------------------------------------------------------------------


async def insert_request(connection: Connection, new: NewContentRequest) -> ContentRequestRecord | None:
    """The new PENDING request; None when the user's idempotency key is already taken.

    The partial unique index on (tenant, user, key) decides, so two concurrent requests with
    one key never both insert: the second finds the first's row (`find_by_idempotency_key`).
    """
    row = await connection.fetchrow(
        f"""
        INSERT INTO content_requests (request_id, tenant_id, user_id, type, title, description, from_date,
                                      to_date, parameters, locale, format, workflow_id, idempotency_key,
                                      request_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14)
        ON CONFLICT (tenant_id, user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING {REQUEST_COLUMNS}
        """,  # noqa: S608 - fixed column list
        new.request_id,
        new.tenant_id,
        new.user_id,
        new.type,
        new.title,
        new.description,
        new.from_date,
        new.to_date,
        json.dumps(dict(new.parameters), ensure_ascii=False, sort_keys=True),
        new.locale,
        new.format,
        new.workflow_id,
        new.idempotency_key,
        new.request_hash,
    )
    return _optional(row)


async def find_by_idempotency_key(
    connection: Connection, tenant_id: UUID, user_id: UUID, key: str
) -> ContentRequestRecord | None:
    row = await connection.fetchrow(
        f"SELECT {REQUEST_COLUMNS} FROM content_requests"  # noqa: S608 - fixed column list
        " WHERE tenant_id = $1 AND user_id = $2 AND idempotency_key = $3",
        tenant_id,
        user_id,
        key,
    )
    return _optional(row)


async def lock_quota(connection: Connection, tenant_id: UUID, request_type: str) -> None:
    """Serialise counting and inserting `request_type` requests of one tenant until the transaction ends.

    Without it, two concurrent requests could both count the last free slot. The lock must
    be its own statement: a count in the same statement would read a snapshot taken before
    the lock was granted, missing the row its predecessor just committed.
    """
    await connection.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"content-quota:{tenant_id}:{request_type}"
    )


async def count_requests(
    connection: Connection, tenant_id: UUID, request_type: str, *, since: datetime, until: datetime
) -> int:
    """Requests created in ``[since, until)`` that count towards the quota: every one that did not fail."""
    used = await connection.fetchval(
        "SELECT count(*) FROM content_requests WHERE tenant_id = $1 AND type = $2"
        " AND created_at >= $3 AND created_at < $4 AND status <> 'FAILED'",
        tenant_id,
        request_type,
        since,
        until,
    )
    return int(used or 0)


def _where(query: RequestQuery, params: _Params) -> str:
    clauses = [
        f"tenant_id = {params.add(query.tenant_id)}",
        f"user_id = {params.add(query.user_id)}",
        f"type = {params.add(query.type)}",
    ]
    if query.statuses:
        clauses.append(f"status = ANY({params.add(list(query.statuses))}::text[])")
    if query.formats:
        clauses.append(f"format = ANY({params.add(list(query.formats))}::text[])")
    if query.created_from is not None:
        clauses.append(f"created_at >= {params.add(query.created_from)}")
    if query.created_to is not None:
        clauses.append(f"created_at <= {params.add(query.created_to)}")
    return " AND ".join(clauses)


async def list_requests(
    connection: Connection, query: RequestQuery
) -> tuple[list[ContentRequestRecord], int]:
    """One page, newest first, and the number of requests over all pages."""
    params = _Params()
    where = _where(query, params)
    total = await connection.fetchval(f"SELECT count(*) FROM content_requests WHERE {where}", *params.values)  # noqa: S608
    if not total or query.offset >= total:
        return [], int(total or 0)
    limit, offset = params.add(query.limit), params.add(query.offset)
    rows = await connection.fetch(
        f"SELECT {REQUEST_COLUMNS} FROM content_requests WHERE {where}"  # noqa: S608 - parameters only
        f" ORDER BY created_at DESC, request_id DESC LIMIT {limit} OFFSET {offset}",
        *params.values,
    )
    return [_record(row) for row in rows], int(total)


async def request_cancel(connection: Connection, request_id: UUID) -> ContentRequestRecord | None:
    """Note that the person asked to cancel (kept from the first ask); None once the request has ended."""
    row = await connection.fetchrow(
        f"UPDATE content_requests SET cancel_requested_at = COALESCE(cancel_requested_at, now()),"  # noqa: S608
        f" updated_at = now() WHERE request_id = $1 AND {_ACTIVE} RETURNING {REQUEST_COLUMNS}",
        request_id,
    )
    return _optional(row)


async def fail_unqueued(connection: Connection, request_id: UUID, *, error_message: str) -> bool:
    """FAILED with ``QUEUE_UNAVAILABLE``: its workflow never started, so nothing else will end it.

    The idempotency key is released, so the client's retry with the same key queues the
    request anew instead of replaying the failure.
    """
    status: str = await connection.execute(
        "UPDATE content_requests SET status = 'FAILED', error_code = $2, error_message = $3,"
        " idempotency_key = NULL, completed_at = now(), updated_at = now()"
        " WHERE request_id = $1 AND status = 'PENDING'",
        request_id,
        QUEUE_UNAVAILABLE,
        error_message,
    )
    return status.endswith(" 1")


async def selected_poc_ids(connection: Connection, request_id: UUID) -> list[UUID]:
    """The POCs a request included, in their order."""
    rows = await connection.fetch(
        "SELECT poc_id FROM content_request_pocs WHERE request_id = $1 ORDER BY sequence_order", request_id
    )
    return [row["poc_id"] for row in rows]


# -- the workflow's side (activities) ---------------------------------------------------------


async def fetch_request(connection: Connection, request_id: UUID) -> ContentRequestRecord | None:
    row = await connection.fetchrow(
        f"SELECT {REQUEST_COLUMNS} FROM content_requests WHERE request_id = $1",  # noqa: S608
        request_id,
    )
    return _optional(row)


async def claim_request(connection: Connection, request_id: UUID) -> ContentRequestRecord | None:
    """PENDING -> PROCESSING (started now, step ``selecting``); the record, or None if missing or ended.

    A request already PROCESSING (the activity retried after a timeout) is returned unchanged.
    """
    row = await connection.fetchrow(
        "UPDATE content_requests SET status = 'PROCESSING', started_at = COALESCE(started_at, now()),"  # noqa: S608
        " step = 'selecting', updated_at = now()"
        f" WHERE request_id = $1 AND status = 'PENDING' RETURNING {REQUEST_COLUMNS}",
        request_id,
    )
    if row is not None:
        return _record(row)
    current = await fetch_request(connection, request_id)
    if current is None or current.status != "PROCESSING":
        return None
    return current


async def update_progress(connection: Connection, request_id: UUID, *, progress: int, step: str) -> None:
    """Record how far a running request is; a lower progress (a late retry) changes nothing."""
    bounded = max(0, min(100, int(progress)))
    await connection.execute(
        "UPDATE content_requests SET progress = GREATEST(progress, $2),"  # noqa: S608
        " step = CASE WHEN $2 >= progress THEN $3 ELSE step END, updated_at = now()"
        f" WHERE request_id = $1 AND {_ACTIVE}",
        request_id,
        bounded,
        step[:MAX_STEP_LENGTH],
    )


async def record_selected_pocs(
    connection: Connection, tenant_id: UUID, request_id: UUID, poc_ids: Sequence[UUID]
) -> None:
    """Make the request's POCs exactly `poc_ids`, in that order (a repeated call changes nothing).

    Ended requests are left as they are; ``poc_count`` follows the selection.
    """
    ordered = list(dict.fromkeys(poc_ids))
    active = await connection.fetchval(
        f"SELECT true FROM content_requests WHERE request_id = $1 AND {_ACTIVE} FOR UPDATE",  # noqa: S608
        request_id,
    )
    if not active:
        return
    await connection.execute("DELETE FROM content_request_pocs WHERE request_id = $1", request_id)
    if ordered:
        await connection.execute(
            """
            INSERT INTO content_request_pocs (tenant_id, request_id, poc_id, sequence_order)
            SELECT $1, $2, s.poc_id, s.n::int FROM unnest($3::uuid[]) WITH ORDINALITY AS s(poc_id, n)
            """,
            tenant_id,
            request_id,
            ordered,
        )
    await connection.execute(
        "UPDATE content_requests SET poc_count = $2, updated_at = now() WHERE request_id = $1",
        request_id,
        len(ordered),
    )


async def mark_completed(
    connection: Connection,
    request_id: UUID,
    *,
    result_key: str,
    media_type: str,
    size: int,
    poc_count: int,
    thumbnail_key: str | None = None,
) -> bool:
    """COMPLETED with its file; True also when an identical earlier call already completed it.

    False when the request had ended otherwise (cancelled meanwhile): the caller's file is
    then an orphan to delete.
    """
    row = await connection.fetchrow(
        "UPDATE content_requests SET status = 'COMPLETED', progress = 100, step = 'completed',"  # noqa: S608
        " result_key = $2, result_media_type = $3, result_size = $4, poc_count = $5,"
        " thumbnail_key = COALESCE($6, thumbnail_key),"
        " error_code = NULL, error_message = NULL, completed_at = now(), updated_at = now()"
        f" WHERE request_id = $1 AND {_ACTIVE} RETURNING request_id",
        request_id,
        result_key,
        media_type,
        size,
        poc_count,
        thumbnail_key,
    )
    if row is not None:
        return True
    current = await fetch_request(connection, request_id)
    return current is not None and current.status == "COMPLETED" and current.result_key == result_key


async def mark_failed(
    connection: Connection, request_id: UUID, *, error_code: str, error_message: str
) -> bool:
    """FAILED with a stable code and a message a person understands; True when it is (now) FAILED."""
    row = await connection.fetchrow(
        "UPDATE content_requests SET status = 'FAILED', error_code = $2, error_message = $3,"  # noqa: S608
        f" completed_at = now(), updated_at = now() WHERE request_id = $1 AND {_ACTIVE} RETURNING request_id",
        request_id,
        error_code[:MAX_ERROR_CODE_LENGTH],
        error_message,
    )
    if row is not None:
        return True
    current = await fetch_request(connection, request_id)
    return current is not None and current.status == "FAILED"


async def mark_cancelled(connection: Connection, request_id: UUID) -> bool:
    """CANCELLED; True when it is (now) CANCELLED, False when it had already ended otherwise."""
    row = await connection.fetchrow(
        "UPDATE content_requests SET status = 'CANCELLED',"  # noqa: S608
        " cancel_requested_at = COALESCE(cancel_requested_at, now()), completed_at = now(),"
        f" updated_at = now() WHERE request_id = $1 AND {_ACTIVE} RETURNING request_id",
        request_id,
    )
    if row is not None:
        return True
    current = await fetch_request(connection, request_id)
    return current is not None and current.status == "CANCELLED"
