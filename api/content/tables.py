"""Piccolo tables of the content database; the schema itself is in piccolo_migrations/.

They describe the tables for Piccolo's tooling and are checked against the migrated schema
by the tests. Queries live in `api.content.repository` and run on the transaction's own
connection, so row-level security's tenant setting always applies to them.
"""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, BigInt, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class ContentRequest(Table, tablename="content_requests"):
    request_id = UUID(primary_key=True)
    tenant_id = UUID()
    user_id = UUID()
    type = Varchar(length=20)
    status = Varchar(length=20, default="PENDING")
    title = Varchar(length=100)
    description = Text(null=True, default=None)
    from_date = Timestamptz(null=True, default=None)
    to_date = Timestamptz(null=True, default=None)
    parameters = JSONB(default="{}")
    locale = Varchar(length=10)
    format = Varchar(length=20)
    workflow_id = Varchar(length=255)
    idempotency_key = Varchar(length=255, null=True, default=None)
    request_hash = Varchar(length=64, null=True, default=None)
    step = Varchar(length=40, null=True, default=None)
    progress = Integer(default=0)
    poc_count = Integer(null=True, default=None)
    result_key = Varchar(length=512, null=True, default=None)
    result_media_type = Varchar(length=100, null=True, default=None)
    result_size = BigInt(null=True, default=None)
    thumbnail_key = Varchar(length=512, null=True, default=None)
    error_code = Varchar(length=64, null=True, default=None)
    error_message = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    started_at = Timestamptz(null=True, default=None)
    completed_at = Timestamptz(null=True, default=None)
    cancel_requested_at = Timestamptz(null=True, default=None)


class ContentRequestPoc(Table, tablename="content_request_pocs"):
    """One POC a request included, in order; primary key (request_id, poc_id)."""

    tenant_id = UUID()
    request_id = UUID()
    poc_id = UUID()
    sequence_order = Integer()
    duration_seconds = Integer(null=True, default=None)


CONTENT_TABLES: tuple[type[Table], ...] = (ContentRequest, ContentRequestPoc)
