"""Removed participants: the facilitator may take a person out of a dojo, and they stay out.

``dojo_participants.removed_at`` is set when the facilitator removes the person (the row's
``leave_time`` is set with it, as if they had left); unlike leaving, a removal keeps them from
joining that dojo again, by id or by join code. The row stays: it is the dojo's history, and the
dojo stays visible to them as one they took part in.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "dojo participants removed by the facilitator"

SCHEMA = """
ALTER TABLE dojo_participants ADD COLUMN removed_at TIMESTAMP WITH TIME ZONE;
ALTER TABLE dojo_participants ADD CONSTRAINT dojo_participants_removed_check
  CHECK (removed_at IS NULL OR leave_time IS NOT NULL);
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="realtime", description=DESCRIPTION)

    async def add_removed_at() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        if engine is None:
            raise RuntimeError("no Piccolo engine for the dojo database")
        connection = engine.current_transaction.get().connection
        await connection.execute(SCHEMA)

    manager.add_raw(add_removed_at)
    return manager
