"""Identity schema: tenants, users, sessions and their refresh tokens, audit log.

Row-level security is forced on every table; rows are visible only when the transaction's
``app.tenant_id`` matches, or in an explicit platform scope (``app.platform = 'on'``) used by
SUPERADMIN operations, sign-up and the tenant lookup at login.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-26T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "identity schema with forced row-level security"

TENANT_PREDICATE = (
    "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    " OR current_setting('app.platform', true) = 'on')"
)

SCHEMA = """
CREATE TABLE tenants (
  tenant_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(100) NOT NULL,
  slug VARCHAR(63) NOT NULL UNIQUE,
  domain VARCHAR(255) NOT NULL UNIQUE,
  subscription_plan VARCHAR(50) NOT NULL DEFAULT 'FREE',
  status VARCHAR(20) NOT NULL DEFAULT 'PENDING',
  default_locale VARCHAR(10) NOT NULL DEFAULT 'pt_BR',
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  settings JSONB NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT tenants_plan_check CHECK (subscription_plan IN ('FREE', 'PRO')),
  CONSTRAINT tenants_status_check CHECK (status IN ('PENDING', 'ACTIVE', 'INACTIVE')),
  CONSTRAINT tenants_slug_check CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$')
);
CREATE INDEX idx_tenants_status ON tenants(status);

CREATE TABLE users (
  user_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
  email CITEXT NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  full_name VARCHAR(100) NOT NULL,
  role VARCHAR(20) NOT NULL DEFAULT 'MEMBER',
  locale VARCHAR(10),
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  last_login_at TIMESTAMP WITH TIME ZONE,
  password_changed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  status VARCHAR(20) NOT NULL DEFAULT 'ACTIVE',
  UNIQUE (tenant_id, email),
  CONSTRAINT users_role_check CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'SUPERADMIN')),
  CONSTRAINT users_status_check CHECK (status IN ('ACTIVE', 'INVITED', 'INACTIVE'))
);
CREATE INDEX idx_users_tenant_id ON users(tenant_id);
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_status ON users(status);

CREATE TABLE sessions (
  session_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
  user_id UUID NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  last_used_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
  revoked_at TIMESTAMP WITH TIME ZONE,
  revoked_reason VARCHAR(40),
  user_agent VARCHAR(255),
  ip_address VARCHAR(64)
);
CREATE INDEX idx_sessions_user ON sessions(tenant_id, user_id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_tokens (
  token_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
  session_id UUID NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
  token_hash CHAR(64) NOT NULL UNIQUE,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
  rotated_at TIMESTAMP WITH TIME ZONE,
  replaced_by UUID
);
CREATE INDEX idx_refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE audit_log (
  audit_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id UUID NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
  actor_user_id UUID,
  action VARCHAR(50) NOT NULL,
  target VARCHAR(255),
  ip_address VARCHAR(64),
  details JSONB NOT NULL DEFAULT '{}'::jsonb,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_audit_log_tenant_time ON audit_log(tenant_id, created_at DESC);
"""

RLS_TABLES = ("tenants", "users", "sessions", "refresh_tokens", "audit_log")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="identity", description=DESCRIPTION)

    async def create_schema() -> None:
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

    manager.add_raw(create_schema)
    return manager
