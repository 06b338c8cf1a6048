"""Content schema: report and video requests, and the POCs each one included (the seed's tables).

Differences from the seed, and why:
- No foreign keys to users, tenants or POCs: they live in identity's and catalog's databases.
- ``CANCELLED`` joins the seed's statuses: a person may stop a request, and it is not a failure.
- ``result_key`` (and ``thumbnail_key``) replace ``result_url``: the object's storage key is
  stored, and each read signs a fresh, expiring URL for it.
- ``workflow_id``, ``step``, ``started_at`` and ``poc_count`` let the API say where a request is
  and estimate when it ends; ``error_code`` keeps a stable code beside the person's message.
- ``idempotency_key`` with the body's ``request_hash``: a retried POST returns the same request.
- ``locale`` and ``format`` are columns, not parameters: every request has them and lists filter
  on them; the rest of a request's options stay in ``parameters``.
- ``tenant_id`` on ``content_request_pocs`` too, so row-level security filters it without a join;
  the composite foreign key keeps a child in its request's tenant.

Row-level security is forced on both tables with identity's predicate: rows exist only for the
transaction's ``app.tenant_id``, or in an explicit platform scope.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-26T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "content schema with forced row-level security"

TENANT_PREDICATE = (
    "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    " OR current_setting('app.platform', true) = 'on')"
)

SCHEMA = """
CREATE TABLE content_requests (
  request_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL,
  user_id UUID NOT NULL,
  type VARCHAR(20) NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'PENDING',
  title VARCHAR(100) NOT NULL,
  description TEXT,
  from_date TIMESTAMP WITH TIME ZONE,
  to_date TIMESTAMP WITH TIME ZONE,
  parameters JSONB NOT NULL DEFAULT '{}'::jsonb,
  locale VARCHAR(10) NOT NULL,
  format VARCHAR(20) NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  idempotency_key VARCHAR(255),
  request_hash VARCHAR(64),
  step VARCHAR(40),
  progress INT NOT NULL DEFAULT 0,
  poc_count INT,
  result_key VARCHAR(512),
  result_media_type VARCHAR(100),
  result_size BIGINT,
  thumbnail_key VARCHAR(512),
  error_code VARCHAR(64),
  error_message TEXT,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  started_at TIMESTAMP WITH TIME ZONE,
  completed_at TIMESTAMP WITH TIME ZONE,
  cancel_requested_at TIMESTAMP WITH TIME ZONE,
  UNIQUE (tenant_id, request_id),
  UNIQUE (workflow_id),
  CONSTRAINT content_requests_type_check CHECK (type IN ('REPORT', 'VIDEO')),
  CONSTRAINT content_requests_status_check
    CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED')),
  CONSTRAINT content_requests_title_check CHECK (char_length(btrim(title)) BETWEEN 1 AND 100),
  CONSTRAINT content_requests_progress_check CHECK (progress BETWEEN 0 AND 100),
  CONSTRAINT content_requests_period_check
    CHECK (from_date IS NULL OR to_date IS NULL OR from_date <= to_date)
);
CREATE UNIQUE INDEX idx_content_requests_idempotency
  ON content_requests(tenant_id, user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX idx_content_requests_user ON content_requests(tenant_id, user_id, created_at DESC);
CREATE INDEX idx_content_requests_quota ON content_requests(tenant_id, type, created_at);
CREATE INDEX idx_content_requests_active ON content_requests(status)
  WHERE status IN ('PENDING', 'PROCESSING');

CREATE TABLE content_request_pocs (
  tenant_id UUID NOT NULL,
  request_id UUID NOT NULL,
  poc_id UUID NOT NULL,
  sequence_order INT NOT NULL,
  duration_seconds INT,
  PRIMARY KEY (request_id, poc_id),
  FOREIGN KEY (tenant_id, request_id) REFERENCES content_requests(tenant_id, request_id) ON DELETE CASCADE
);
CREATE INDEX idx_content_request_pocs_poc_id ON content_request_pocs(tenant_id, poc_id);
"""

RLS_TABLES = ("content_requests", "content_request_pocs")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="content", description=DESCRIPTION)

    async def create_schema() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        if engine is None:
            raise RuntimeError("no Piccolo engine for content")
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
