"""Invitations: how a user created without a password (INVITED) sets one and becomes ACTIVE.

Two tables, both with the forced row-level security of every identity table:

- ``user_invitations``: one row per invitation an OWNER or ADMIN sent, valid until
  ``expires_at``, closed for good by ``accepted_at`` or ``revoked_at``. At most one open
  invitation per user (a partial unique index): sending a new one revokes the older ones in the
  same transaction, so an older link stops working the moment a newer one is asked for.
- ``user_invitation_tokens``: the SHA-256 of each token issued for an invitation. The token
  itself exists only in the e-mail. An invitation usually has exactly one; the sending activity
  adds another only when it is retried, because a retry cannot know whether the e-mail of the
  earlier attempt went out (the mailer delivers once per invitation, and then keeps the earlier
  message). Every token issued for an invitation stays valid while the invitation is open; the
  ones whose e-mail never went out were never seen outside the worker's memory.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-29T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "identity: user invitations and their hashed tokens"

TENANT_PREDICATE = (
    "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    " OR current_setting('app.platform', true) = 'on')"
)
"""The same predicate as every other identity table's."""

SCHEMA = """
CREATE TABLE user_invitations (
  invitation_id UUID PRIMARY KEY,
  tenant_id UUID NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
  user_id UUID NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
  created_by UUID,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
  accepted_at TIMESTAMP WITH TIME ZONE,
  revoked_at TIMESTAMP WITH TIME ZONE,
  revoked_reason VARCHAR(40),
  CONSTRAINT user_invitations_closed_once CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);
CREATE INDEX idx_user_invitations_user ON user_invitations(tenant_id, user_id);
CREATE UNIQUE INDEX uq_user_invitations_one_open ON user_invitations(user_id)
  WHERE accepted_at IS NULL AND revoked_at IS NULL;

CREATE TABLE user_invitation_tokens (
  token_hash CHAR(64) PRIMARY KEY,
  tenant_id UUID NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
  invitation_id UUID NOT NULL REFERENCES user_invitations(invitation_id) ON DELETE CASCADE,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_user_invitation_tokens_invitation ON user_invitation_tokens(invitation_id);
"""

RLS_TABLES = ("user_invitations", "user_invitation_tokens")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="identity", description=DESCRIPTION)

    async def create_invitations() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        if engine is None:
            raise RuntimeError("no Piccolo engine for identity")
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

    manager.add_raw(create_invitations)
    return manager
