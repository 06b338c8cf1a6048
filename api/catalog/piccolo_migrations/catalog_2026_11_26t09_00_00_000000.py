"""Catalog schema: POCs with their tags and frameworks (the seed's tables, adapted).

Differences from the seed, and why:
- No foreign keys to users or tenants: they live in identity's database.
- ``version`` grows with every write, so the search read model never lets an older
  document overwrite a newer one.
- ``thumbnail_key`` replaces ``thumbnail_url``: the object's storage key is stored, and each
  response signs a fresh, expiring URL for it.
- ``tenant_id`` on the child tables too, so row-level security filters them without a join;
  the composite foreign key keeps a child in its POC's tenant.
- Tags and frameworks keep a matching ``key`` (case-folded, accents stripped) and the
  ``display`` form as typed.

Row-level security is forced on every table, with identity's predicate: rows exist only
for the transaction's ``app.tenant_id``, or in an explicit platform scope.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-26T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "catalog schema with forced row-level security"

TENANT_PREDICATE = (
    "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    " OR current_setting('app.platform', true) = 'on')"
)

SCHEMA = """
CREATE TABLE pocs (
  poc_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL,
  tenant_id UUID NOT NULL,
  name VARCHAR(100) NOT NULL,
  description TEXT,
  repository_url VARCHAR(255) NOT NULL,
  language VARCHAR(50),
  is_public BOOLEAN NOT NULL DEFAULT FALSE,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  deleted_at TIMESTAMP WITH TIME ZONE,
  thumbnail_key VARCHAR(255),
  version BIGINT NOT NULL DEFAULT 1,
  UNIQUE (tenant_id, poc_id),
  CONSTRAINT pocs_name_check CHECK (char_length(btrim(name)) BETWEEN 1 AND 100),
  CONSTRAINT pocs_description_check CHECK (description IS NULL OR char_length(description) <= 5000),
  CONSTRAINT pocs_repository_url_check CHECK (repository_url ~* '^https?://[^/?#[:space:]]+'),
  CONSTRAINT pocs_version_check CHECK (version >= 1)
);
CREATE INDEX idx_pocs_tenant_user ON pocs(tenant_id, user_id, created_at DESC);
CREATE INDEX idx_pocs_tenant_public ON pocs(tenant_id, created_at DESC)
  WHERE is_public AND deleted_at IS NULL;
CREATE INDEX idx_pocs_tenant_language ON pocs(tenant_id, language);
CREATE INDEX idx_pocs_tenant_created ON pocs(tenant_id, created_at DESC);

CREATE TABLE poc_tags (
  tenant_id UUID NOT NULL,
  poc_id UUID NOT NULL,
  tag VARCHAR(50) NOT NULL,
  display VARCHAR(50) NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  PRIMARY KEY (poc_id, tag),
  FOREIGN KEY (tenant_id, poc_id) REFERENCES pocs(tenant_id, poc_id) ON DELETE CASCADE,
  CONSTRAINT poc_tags_tag_check CHECK (tag = btrim(tag) AND char_length(tag) BETWEEN 1 AND 50)
);
CREATE INDEX idx_poc_tags_tag ON poc_tags(tenant_id, tag varchar_pattern_ops);

CREATE TABLE poc_frameworks (
  tenant_id UUID NOT NULL,
  poc_id UUID NOT NULL,
  framework VARCHAR(50) NOT NULL,
  display VARCHAR(50) NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  PRIMARY KEY (poc_id, framework),
  FOREIGN KEY (tenant_id, poc_id) REFERENCES pocs(tenant_id, poc_id) ON DELETE CASCADE,
  CONSTRAINT poc_frameworks_framework_check
    CHECK (framework = btrim(framework) AND char_length(framework) BETWEEN 1 AND 50)
);
CREATE INDEX idx_poc_frameworks_framework ON poc_frameworks(tenant_id, framework varchar_pattern_ops);
"""

RLS_TABLES = ("pocs", "poc_tags", "poc_frameworks")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="catalog", description=DESCRIPTION)

    async def create_schema() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        if engine is None:
            raise RuntimeError("no Piccolo engine for catalog")
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
