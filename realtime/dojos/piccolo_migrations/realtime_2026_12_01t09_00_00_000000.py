"""Dojo schema: dojos, their participants, code snapshots and chat (the seed's tables, adapted).

Differences from the seed, and why:
- No foreign keys to users or tenants: they live in identity's database. So a participant keeps
  the ``display_name`` the room shows (given when joining), since there is no users table to join.
- ``tenant_id`` on every table, so row-level security filters each one without a join; the
  composite foreign keys keep a child row in its dojo's tenant.
- ``version`` grows with every change of a dojo (its fields, its status, who is in it), so the
  search read model never lets an older document overwrite a newer one; ``updated_at`` with it.
- The randori's settings live on the dojo: ``rotation_minutes`` (the driver changes every N
  minutes), ``break_every`` (a break after every k rotations; 0: no breaks), ``break_minutes``.
- ``join_code`` is unique across tenants and made of an unambiguous alphabet (``joincode.py``).
- ``max_participants`` is never null (a default applies) and counts PARTICIPANTs only.
- A participant who leaves keeps the row with ``leave_time`` set: it is the dojo's history, and
  names in the chat and snapshots keep resolving. Joining again clears ``leave_time``.
- Snapshots say what took them (``kind``) and where their copy in storage is (``storage_key``,
  the seed's ``dojos/{tenant_id}/{dojo_id}/snapshots/{timestamp}.json``).
- Sizes are bounded in the database too: initial code 64 KiB, a snapshot 1 MiB, a chat
  message 4000 characters.

Row-level security is forced on every table with identity's predicate: rows exist only for the
transaction's ``app.tenant_id``, or in an explicit platform scope.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "dojo schema with forced row-level security"

TENANT_PREDICATE = (
    "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    " OR current_setting('app.platform', true) = 'on')"
)

SCHEMA = """
CREATE TABLE dojos (
  dojo_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  creator_id UUID NOT NULL,
  tenant_id UUID NOT NULL,
  name VARCHAR(100) NOT NULL,
  description TEXT,
  language VARCHAR(50) NOT NULL,
  max_participants INT NOT NULL DEFAULT 10,
  is_private BOOLEAN NOT NULL DEFAULT TRUE,
  scheduled_start_time TIMESTAMP WITH TIME ZONE,
  initial_code TEXT,
  join_code VARCHAR(20) NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'SCHEDULED',
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  started_at TIMESTAMP WITH TIME ZONE,
  ended_at TIMESTAMP WITH TIME ZONE,
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  version BIGINT NOT NULL DEFAULT 1,
  rotation_minutes INT NOT NULL DEFAULT 5,
  break_every INT NOT NULL DEFAULT 4,
  break_minutes INT NOT NULL DEFAULT 5,
  UNIQUE (tenant_id, dojo_id),
  CONSTRAINT dojos_name_check CHECK (char_length(btrim(name)) BETWEEN 1 AND 100),
  CONSTRAINT dojos_description_check CHECK (description IS NULL OR char_length(description) <= 5000),
  CONSTRAINT dojos_language_check CHECK (char_length(language) BETWEEN 1 AND 50),
  CONSTRAINT dojos_max_participants_check CHECK (max_participants BETWEEN 2 AND 50),
  CONSTRAINT dojos_initial_code_check CHECK (initial_code IS NULL OR octet_length(initial_code) <= 65536),
  CONSTRAINT dojos_join_code_check CHECK (join_code ~ '^[A-Z0-9]{10,20}$'),
  CONSTRAINT dojos_status_check CHECK (status IN ('SCHEDULED', 'ACTIVE', 'COMPLETED', 'CANCELLED')),
  CONSTRAINT dojos_status_times_check CHECK (
    (status = 'SCHEDULED' AND started_at IS NULL AND ended_at IS NULL)
    OR (status = 'ACTIVE' AND started_at IS NOT NULL AND ended_at IS NULL)
    OR (status = 'COMPLETED' AND started_at IS NOT NULL AND ended_at IS NOT NULL)
    OR (status = 'CANCELLED' AND ended_at IS NOT NULL)
  ),
  CONSTRAINT dojos_version_check CHECK (version >= 1),
  CONSTRAINT dojos_rotation_minutes_check CHECK (rotation_minutes BETWEEN 1 AND 60),
  CONSTRAINT dojos_break_every_check CHECK (break_every BETWEEN 0 AND 20),
  CONSTRAINT dojos_break_minutes_check CHECK (break_minutes BETWEEN 1 AND 30)
);
CREATE UNIQUE INDEX idx_dojos_join_code ON dojos(join_code);
CREATE INDEX idx_dojos_tenant_status_start ON dojos(tenant_id, status, scheduled_start_time);
CREATE INDEX idx_dojos_tenant_creator ON dojos(tenant_id, creator_id);
CREATE INDEX idx_dojos_tenant_language ON dojos(tenant_id, language);
CREATE INDEX idx_dojos_name_trgm ON dojos USING gin (name gin_trgm_ops);

CREATE TABLE dojo_participants (
  tenant_id UUID NOT NULL,
  dojo_id UUID NOT NULL,
  user_id UUID NOT NULL,
  role VARCHAR(20) NOT NULL DEFAULT 'PARTICIPANT',
  display_name VARCHAR(100) NOT NULL,
  join_time TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  leave_time TIMESTAMP WITH TIME ZONE,
  last_active_time TIMESTAMP WITH TIME ZONE,
  PRIMARY KEY (dojo_id, user_id),
  FOREIGN KEY (tenant_id, dojo_id) REFERENCES dojos(tenant_id, dojo_id) ON DELETE CASCADE,
  CONSTRAINT dojo_participants_role_check CHECK (role IN ('PARTICIPANT', 'OBSERVER')),
  CONSTRAINT dojo_participants_display_name_check CHECK (char_length(btrim(display_name)) BETWEEN 1 AND 100)
);
CREATE INDEX idx_dojo_participants_user_id ON dojo_participants(tenant_id, user_id);

CREATE TABLE dojo_code_snapshots (
  snapshot_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL,
  dojo_id UUID NOT NULL,
  timestamp TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  code TEXT NOT NULL,
  user_id UUID,
  kind VARCHAR(20) NOT NULL DEFAULT 'PERIODIC',
  storage_key VARCHAR(512),
  FOREIGN KEY (tenant_id, dojo_id) REFERENCES dojos(tenant_id, dojo_id) ON DELETE CASCADE,
  CONSTRAINT dojo_code_snapshots_code_check CHECK (octet_length(code) <= 1048576),
  CONSTRAINT dojo_code_snapshots_kind_check CHECK (kind IN ('PERIODIC', 'FINAL', 'MANUAL'))
);
CREATE INDEX idx_dojo_code_snapshots_dojo_id ON dojo_code_snapshots(tenant_id, dojo_id, timestamp);

CREATE TABLE dojo_chat_messages (
  message_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL,
  dojo_id UUID NOT NULL,
  user_id UUID NOT NULL,
  message TEXT NOT NULL,
  timestamp TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  FOREIGN KEY (tenant_id, dojo_id) REFERENCES dojos(tenant_id, dojo_id) ON DELETE CASCADE,
  CONSTRAINT dojo_chat_messages_message_check CHECK (char_length(message) BETWEEN 1 AND 4000)
);
CREATE INDEX idx_dojo_chat_messages_dojo_id ON dojo_chat_messages(tenant_id, dojo_id, timestamp);
"""

RLS_TABLES = ("dojos", "dojo_participants", "dojo_code_snapshots", "dojo_chat_messages")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="realtime", description=DESCRIPTION)

    async def create_schema() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        if engine is None:
            raise RuntimeError("no Piccolo engine for the dojo database")
        # Inside the migration's transaction, so a failure leaves nothing behind.
        connection = engine.current_transaction.get().connection
        await connection.execute(SCHEMA)
        for table in RLS_TABLES:
            await connection.execute(
                f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"
                f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"
                f"CREATE POLICY tenant_isolation_policy ON {table}"
                f" USING {TENANT_PREDICATE} WITH CHECK {TENANT_PREDICATE};"
            )

    manager.add_raw(create_schema)
    return manager
