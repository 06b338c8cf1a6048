"""The embedded search engine's read model: one row per POC, full text, trigrams, facets.

Normalisation lives in the database, in IMMUTABLE functions, so generated columns, indexes
and queries fold text the same way: ``search_key`` = unaccent + lowercase. ``search_vector``
holds the name (weight A) in the simple, Portuguese and English configurations, tags (B) and
the description (C) in Portuguese and English. ``search_terms`` is each tenant's lexicon of
words, the candidates a misspelt query word is corrected to.

Row-level security is forced on both tables: a transaction sees one tenant's rows
(``app.tenant_id``) or, for reconciliation and reindexing only, all of them (``app.platform``).
The application role may also MAINTAIN the tables (REINDEX, ANALYZE) for the reindex workflow.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-27T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "search read model with full text, trigrams and forced row-level security"

TENANT_PREDICATE = (
    "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    " OR current_setting('app.platform', true) = 'on')"
)

FUNCTIONS = """
CREATE FUNCTION search_unaccent(value text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  RETURN public.unaccent('public.unaccent'::regdictionary, value);

CREATE FUNCTION search_key(value text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  RETURN lower(search_unaccent(btrim(value)));

CREATE FUNCTION search_keys(value text[]) RETURNS text[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  RETURN ARRAY(SELECT search_key(item) FROM unnest(value) AS item);

CREATE FUNCTION search_joined(value text[]) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  RETURN array_to_string(value, ' ');

CREATE FUNCTION search_words(value text) RETURNS SETOF text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  BEGIN ATOMIC
    SELECT DISTINCT word FROM regexp_split_to_table(search_key(value), '[^[:alnum:]]+') AS word
    WHERE length(word) BETWEEN 3 AND 40;
  END;

CREATE FUNCTION search_word_query(word text, prefix boolean) RETURNS tsquery
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  RETURN (
    CASE WHEN prefix THEN to_tsquery('simple', quote_literal(search_key(word)) || ':*')
         ELSE plainto_tsquery('simple', search_key(word)) END
    || plainto_tsquery('portuguese', search_key(word))
    || plainto_tsquery('english', search_key(word))
  );

CREATE AGGREGATE search_tsquery_or(tsquery) (SFUNC = tsquery_or, STYPE = tsquery);
CREATE AGGREGATE search_tsquery_and(tsquery) (SFUNC = tsquery_and, STYPE = tsquery);

-- Prefixes of each word and of its Portuguese and English stems, matched against the original
-- text through an unaccenting configuration: ts_headline then marks "Programação" for
-- "programacao" and "dashboards" for "dashboard" while returning the text as written.
CREATE FUNCTION search_highlight_query(words text[]) RETURNS tsquery
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  BEGIN ATOMIC
    SELECT search_tsquery_or(to_tsquery('simple', quote_literal(stem) || ':*'))
    FROM (
      SELECT DISTINCT stem
      FROM unnest(words) AS word,
        LATERAL (VALUES
          (search_key(word)),
          ((ts_lexize('portuguese_stem', search_key(word)))[1]),
          ((ts_lexize('english_stem', search_key(word)))[1])
        ) AS stems(stem)
      WHERE length(stem) >= 2
    ) AS distinct_stems;
  END;

CREATE TEXT SEARCH CONFIGURATION search_highlight (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION search_highlight
  ALTER MAPPING FOR hword, hword_part, word WITH public.unaccent, simple;
"""

TABLES = """
CREATE TABLE search_documents (
  tenant_id UUID NOT NULL,
  poc_id UUID NOT NULL,
  version BIGINT NOT NULL,
  deleted BOOLEAN NOT NULL DEFAULT FALSE,
  user_id UUID,
  name VARCHAR(200) NOT NULL DEFAULT '',
  description TEXT,
  repository_url VARCHAR(500),
  language VARCHAR(50),
  is_public BOOLEAN NOT NULL DEFAULT FALSE,
  tags TEXT[] NOT NULL DEFAULT '{}',
  frameworks TEXT[] NOT NULL DEFAULT '{}',
  thumbnail_key VARCHAR(500),
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  indexed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  name_key TEXT GENERATED ALWAYS AS (search_key(name)) STORED,
  language_key TEXT GENERATED ALWAYS AS (search_key(language)) STORED,
  tag_keys TEXT[] GENERATED ALWAYS AS (search_keys(tags)) STORED,
  framework_keys TEXT[] GENERATED ALWAYS AS (search_keys(frameworks)) STORED,
  search_vector TSVECTOR GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', search_key(name)), 'A')
    || setweight(to_tsvector('portuguese', search_key(name)), 'A')
    || setweight(to_tsvector('english', search_key(name)), 'A')
    || setweight(to_tsvector('simple', search_key(search_joined(tags))), 'B')
    || setweight(to_tsvector('portuguese', coalesce(search_key(description), '')), 'C')
    || setweight(to_tsvector('english', coalesce(search_key(description), '')), 'C')
  ) STORED,
  PRIMARY KEY (tenant_id, poc_id),
  CONSTRAINT search_documents_version_check CHECK (version >= 0)
);
CREATE INDEX idx_search_documents_newest ON search_documents (tenant_id, created_at DESC)
  WHERE NOT deleted;
CREATE INDEX idx_search_documents_owner ON search_documents (tenant_id, user_id, created_at DESC)
  WHERE NOT deleted;
CREATE INDEX idx_search_documents_name ON search_documents (tenant_id, name_key) WHERE NOT deleted;
CREATE INDEX idx_search_documents_vector ON search_documents USING gin (search_vector);
CREATE INDEX idx_search_documents_name_trgm ON search_documents USING gin (name_key gin_trgm_ops);
CREATE INDEX idx_search_documents_tags ON search_documents USING gin (tag_keys);
CREATE INDEX idx_search_documents_frameworks ON search_documents USING gin (framework_keys);
CREATE INDEX idx_search_documents_indexed_at ON search_documents (indexed_at);

CREATE TABLE search_terms (
  tenant_id UUID NOT NULL,
  term VARCHAR(40) COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant_id, term)
);
CREATE INDEX idx_search_terms_trgm ON search_terms USING gin (term gin_trgm_ops);
"""

RLS_TABLES = ("search_documents", "search_terms")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="search", description=DESCRIPTION)

    async def create_schema() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        if engine is None:
            raise RuntimeError("no Piccolo engine for search")
        connection = engine.current_transaction.get().connection
        await connection.execute(FUNCTIONS)
        await connection.execute(TABLES)
        app_role = await connection.fetchval("SELECT regexp_replace(current_user, '_owner$', '_app')")
        for table in RLS_TABLES:
            await connection.execute(
                f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"
                f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"
                f"CREATE POLICY tenant_isolation_policy ON {table}"
                f" USING {TENANT_PREDICATE} WITH CHECK {TENANT_PREDICATE};"
                f'GRANT MAINTAIN ON {table} TO "{app_role}";'
            )

    manager.add_raw(create_schema)
    return manager
