"""The dojo read model: one row per dojo beside the POCs', with its own lexicon.

Text is folded by the first migration's functions, so a dojo's name and description match like a
POC's: ``search_vector`` holds the name (weight A, simple + Portuguese + English) and the
description (C, Portuguese + English); ``dojo_search_terms`` is each tenant's lexicon of dojo words,
the candidates a misspelt query word is corrected to.

``status_rank`` (ACTIVE 0, SCHEDULED 1, COMPLETED 2, CANCELLED 3) is the seed's "active first"
order as a column, so the listing order ``(status_rank, scheduled_start_time)`` and a status filter
are one tenant-led b-tree range. Under forced row-level security PostgreSQL uses an index only for
leakproof operators, so the visibility test (public, the creator, or one of ``member_ids``) is
evaluated on that range, from columns the index includes; dojos per tenant are few.

Row-level security is forced on both tables with the POC read model's predicate (each setting read
once per statement): a transaction sees one tenant's rows (``app.tenant_id``) or, for
reconciliation only, all of them (``app.platform``).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "search: the dojo read model and its lexicon, with forced row-level security"

TENANT_PREDICATE = (
    "(tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
    " OR (SELECT current_setting('app.platform', true) = 'on'))"
)

STATEMENTS = """
CREATE FUNCTION search_dojo_status_rank(status text) RETURNS smallint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  RETURN CASE status WHEN 'ACTIVE' THEN 0 WHEN 'SCHEDULED' THEN 1 WHEN 'COMPLETED' THEN 2 ELSE 3 END;

CREATE TABLE dojo_search_documents (
  tenant_id UUID NOT NULL,
  dojo_id UUID NOT NULL,
  version BIGINT NOT NULL,
  status_rank SMALLINT GENERATED ALWAYS AS (search_dojo_status_rank(status)) STORED,
  scheduled_start_time TIMESTAMP WITH TIME ZONE,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  deleted BOOLEAN NOT NULL DEFAULT FALSE,
  is_private BOOLEAN NOT NULL DEFAULT TRUE,
  creator_id UUID,
  member_ids UUID[] NOT NULL DEFAULT '{}',
  language_key TEXT GENERATED ALWAYS AS (search_key(language)) STORED,
  search_vector TSVECTOR GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', search_key(name)), 'A')
    || setweight(to_tsvector('portuguese', search_key(name)), 'A')
    || setweight(to_tsvector('english', search_key(name)), 'A')
    || setweight(to_tsvector('portuguese', coalesce(search_key(description), '')), 'C')
    || setweight(to_tsvector('english', coalesce(search_key(description), '')), 'C')
  ) STORED,
  status VARCHAR(20) NOT NULL DEFAULT '',
  participant_count INTEGER NOT NULL DEFAULT 0,
  started_at TIMESTAMP WITH TIME ZONE,
  ended_at TIMESTAMP WITH TIME ZONE,
  indexed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  name VARCHAR(200) NOT NULL DEFAULT '',
  description TEXT,
  language VARCHAR(50),
  PRIMARY KEY (tenant_id, dojo_id),
  CONSTRAINT dojo_search_documents_version_check CHECK (version >= 0)
);
CREATE INDEX idx_dojo_search_documents_upcoming
  ON dojo_search_documents (tenant_id, status_rank, scheduled_start_time, dojo_id)
  INCLUDE (is_private, creator_id, member_ids, language_key, created_at) WHERE NOT deleted;

CREATE TABLE dojo_search_terms (
  tenant_id UUID NOT NULL,
  term VARCHAR(40) COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant_id, term)
);
"""

RLS_TABLES = ("dojo_search_documents", "dojo_search_terms")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="search", description=DESCRIPTION)

    async def create_schema() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        if engine is None:
            raise RuntimeError("no Piccolo engine for search")
        transaction = engine.current_transaction.get()
        if transaction is None:
            raise RuntimeError("the search migration runs outside a transaction")
        connection = transaction.connection
        await connection.execute(STATEMENTS)
        app_role = await connection.fetchval("SELECT regexp_replace(current_user, '_owner$', '_app')")
        for table in RLS_TABLES:
            await connection.execute(
                f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"
                f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"
                f"CREATE POLICY tenant_isolation_policy ON {table}"
                f" USING {TENANT_PREDICATE} WITH CHECK {TENANT_PREDICATE};"
                f'GRANT SELECT, INSERT, UPDATE, DELETE, MAINTAIN ON {table} TO "{app_role}";'
            )

    manager.add_raw(create_schema)
    return manager
