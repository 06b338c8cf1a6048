"""Piccolo tables of the dojo database; the schema itself is in piccolo_migrations/.

They describe the tables for Piccolo's tooling and are checked against the migrated schema
by the tests. Queries live in `realtime.dojos.repository` and run on the transaction's own
connection, so row-level security's tenant setting always applies to them. Column names are
the seed's, so readers outside this service (the dojo search's activity) can rely on them.
"""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Dojo(Table, tablename="dojos"):
    dojo_id = UUID(primary_key=True)
    creator_id = UUID()
    tenant_id = UUID()
    name = Varchar(length=100)
    description = Text(null=True, default=None)
    language = Varchar(length=50)
    max_participants = Integer(default=10)
    is_private = Boolean(default=True)
    scheduled_start_time = Timestamptz(null=True, default=None)
    initial_code = Text(null=True, default=None)
    join_code = Varchar(length=20)
    status = Varchar(length=20, default="SCHEDULED")
    created_at = Timestamptz(default=TimestamptzNow())
    started_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())
    version = BigInt(default=1)
    rotation_minutes = Integer(default=5)
    break_every = Integer(default=4)
    break_minutes = Integer(default=5)


class DojoParticipant(Table, tablename="dojo_participants"):
    """One person in one dojo; primary key (dojo_id, user_id). Piccolo imagines an ``id``."""

    tenant_id = UUID()
    dojo_id = UUID()
    user_id = UUID()
    role = Varchar(length=20, default="PARTICIPANT")
    display_name = Varchar(length=100)
    join_time = Timestamptz(default=TimestamptzNow())
    leave_time = Timestamptz(null=True, default=None)
    last_active_time = Timestamptz(null=True, default=None)
    removed_at = Timestamptz(null=True, default=None)
    """Set when the facilitator removed the person: they may not join that dojo again."""


class DojoCodeSnapshot(Table, tablename="dojo_code_snapshots"):
    snapshot_id = UUID(primary_key=True)
    tenant_id = UUID()
    dojo_id = UUID()
    timestamp = Timestamptz(default=TimestamptzNow())
    code = Text()
    user_id = UUID(null=True, default=None)
    """None for snapshots the service takes by itself (periodic, final)."""
    kind = Varchar(length=20, default="PERIODIC")
    storage_key = Varchar(length=512, null=True, default=None)


class DojoChatMessage(Table, tablename="dojo_chat_messages"):
    message_id = UUID(primary_key=True)
    tenant_id = UUID()
    dojo_id = UUID()
    user_id = UUID()
    message = Text()
    timestamp = Timestamptz(default=TimestamptzNow())


DOJO_TABLES: tuple[type[Table], ...] = (Dojo, DojoParticipant, DojoCodeSnapshot, DojoChatMessage)
