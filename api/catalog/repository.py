"""Every query of the catalog service.

Functions take the unit of work's connection: the caller's `tenant_transaction` (or
`platform_transaction` for the indexing activities) has set the tenant on it, and row-level
security decides what exists. The explicit tenant filters only make the intent readable
and let the planner use the tenant-leading indexes. Nothing here commits.

SQL is written out rather than built with Piccolo's query builder: a Piccolo table class is
bound to one engine per process, and a query on a class bound to another engine would run
outside this transaction, where no tenant is set and no row exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from api.catalog.labels import Label

Connection = Any
"""An asyncpg connection (asyncpg ships no type information)."""

LabelKind = Literal["tag", "framework"]

NIL_UUID = UUID(int=0)


@dataclass(frozen=True, slots=True)
class _LabelTable:
    table: str
    column: str


_LABEL_TABLES: Mapping[LabelKind, _LabelTable] = {
    "tag": _LabelTable("poc_tags", "tag"),
    "framework": _LabelTable("poc_frameworks", "framework"),
}

POC_COLUMNS = (
    "p.poc_id, p.tenant_id, p.user_id, p.name, p.description, p.repository_url, p.language,"
    " p.is_public, p.created_at, p.updated_at, p.deleted_at, p.thumbnail_key, p.version"
)
UPDATABLE_COLUMNS = frozenset(
    {"name", "description", "repository_url", "language", "is_public", "thumbnail_key", "deleted_at"}
)


@dataclass(frozen=True, slots=True)
class PocRecord:
    poc_id: UUID
    tenant_id: UUID
    user_id: UUID
    name: str
    description: str | None
    repository_url: str
    language: str | None
    is_public: bool
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    thumbnail_key: str | None
    version: int
    tags: tuple[Label, ...] = ()
    frameworks: tuple[Label, ...] = ()

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True, slots=True)
class NewPoc:
    """A POC to insert; ids and timestamps are chosen by the caller when it matters (seeding)."""

    tenant_id: UUID
    user_id: UUID
    name: str
    repository_url: str
    description: str | None = None
    language: str | None = None
    is_public: bool = False
    tags: tuple[Label, ...] = ()
    frameworks: tuple[Label, ...] = ()
    poc_id: UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    thumbnail_key: str | None = None


@dataclass(frozen=True, slots=True)
class PocQuery:
    """A page of the POCs `viewer_id` may see; the other fields narrow it."""

    tenant_id: UUID
    viewer_id: UUID
    owner_id: UUID | None = None
    public_only: bool = False
    is_public: bool | None = None
    language: str | None = None
    tag_keys: tuple[str, ...] = ()
    framework_keys: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None
    deleted: bool = False
    """The viewer's own soft-deleted POCs (the trash) instead of the live ones."""
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True, slots=True)
class LabelCount:
    key: str
    display: str
    count: int


@dataclass(frozen=True, slots=True)
class VersionRow:
    tenant_id: UUID
    poc_id: UUID
    version: int
    deleted: bool


@dataclass(slots=True)
class _Params:
    """Positional parameters for hand-written SQL: ``params.add(value)`` returns ``$n``."""

    values: list[Any] = field(default_factory=list)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def _record(row: Mapping[str, Any], labels: Mapping[str, Mapping[UUID, list[Label]]]) -> PocRecord:
    poc_id: UUID = row["poc_id"]
    return PocRecord(
        poc_id=poc_id,
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        name=row["name"],
        description=row["description"],
        repository_url=row["repository_url"],
        language=row["language"],
        is_public=row["is_public"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
        thumbnail_key=row["thumbnail_key"],
        version=row["version"],
        tags=tuple(labels["tag"].get(poc_id, ())),
        frameworks=tuple(labels["framework"].get(poc_id, ())),
    )


async def _labels_of(connection: Connection, kind: LabelKind, poc_ids: list[UUID]) -> dict[UUID, list[Label]]:
    spec = _LABEL_TABLES[kind]
    rows = await connection.fetch(
        f"SELECT poc_id, {spec.column} AS key, display FROM {spec.table}"  # noqa: S608 - fixed names
        f" WHERE poc_id = ANY($1::uuid[]) ORDER BY poc_id, {spec.column}",
        poc_ids,
    )
    found: dict[UUID, list[Label]] = {}
    for row in rows:
        found.setdefault(row["poc_id"], []).append(Label(key=row["key"], display=row["display"]))
    return found


async def _with_labels(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[PocRecord]:
    poc_ids = [row["poc_id"] for row in rows]
    if not poc_ids:
        return []
    labels = {
        "tag": await _labels_of(connection, "tag", poc_ids),
        "framework": await _labels_of(connection, "framework", poc_ids),
    }
    return [_record(row, labels) for row in rows]


# -- single POCs ------------------------------------------------------------------------------


async def fetch_poc(connection: Connection, poc_id: UUID, *, lock: bool = False) -> PocRecord | None:
    """The POC whatever its visibility or deletion; `lock` holds it until the transaction ends."""
    row = await connection.fetchrow(
        f"SELECT {POC_COLUMNS} FROM pocs p WHERE p.poc_id = $1" + (" FOR UPDATE" if lock else ""),  # noqa: S608
        poc_id,
    )
    if row is None:
        return None
    return (await _with_labels(connection, [row]))[0]


async def insert_poc(connection: Connection, poc: NewPoc) -> PocRecord:
    row = await connection.fetchrow(
        f"""
        INSERT INTO pocs AS p (poc_id, tenant_id, user_id, name, description, repository_url, language,
                               is_public, created_at, updated_at, deleted_at, thumbnail_key)
        VALUES (COALESCE($1, gen_random_uuid()), $2, $3, $4, $5, $6, $7, $8,
                COALESCE($9, now()), COALESCE($10, $9, now()), $11, $12)
        RETURNING {POC_COLUMNS}
        """,  # noqa: S608 - fixed column list
        poc.poc_id,
        poc.tenant_id,
        poc.user_id,
        poc.name,
        poc.description,
        poc.repository_url,
        poc.language,
        poc.is_public,
        poc.created_at,
        poc.updated_at,
        poc.deleted_at,
        poc.thumbnail_key,
    )
    await replace_labels(connection, "tag", poc.tenant_id, row["poc_id"], poc.tags)
    await replace_labels(connection, "framework", poc.tenant_id, row["poc_id"], poc.frameworks)
    return (await _with_labels(connection, [row]))[0]


async def update_poc(connection: Connection, poc_id: UUID, changes: Mapping[str, Any]) -> int:
    """Apply `changes` (column -> value), bump the version and return the new one.

    Every write goes through here or `bump_version`, so the version always grows.
    """
    unknown = set(changes) - UPDATABLE_COLUMNS
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    params = _Params()
    poc_param = params.add(poc_id)
    assignments = [f"{column} = {params.add(value)}" for column, value in changes.items()]
    assignments += ["version = version + 1", "updated_at = now()"]
    version = await connection.fetchval(
        f"UPDATE pocs SET {', '.join(assignments)} WHERE poc_id = {poc_param} RETURNING version",  # noqa: S608
        *params.values,
    )
    if version is None:
        raise LookupError(poc_id)
    return int(version)


async def bump_version(connection: Connection, poc_id: UUID) -> int:
    """A change of the POC's tags or frameworks is a change of the POC."""
    return await update_poc(connection, poc_id, {})


async def replace_labels(
    connection: Connection, kind: LabelKind, tenant_id: UUID, poc_id: UUID, labels: Iterable[Label]
) -> None:
    """Make the POC's tags (or frameworks) exactly `labels`; kept ones keep their creation time."""
    spec = _LABEL_TABLES[kind]
    wanted = list(labels)
    keys = [label.key for label in wanted]
    await connection.execute(
        f"DELETE FROM {spec.table} WHERE poc_id = $1 AND NOT ({spec.column} = ANY($2::text[]))",  # noqa: S608
        poc_id,
        keys,
    )
    if wanted:
        await connection.execute(
            f"""
            INSERT INTO {spec.table} (tenant_id, poc_id, {spec.column}, display)
            SELECT $1, $2, key, display FROM unnest($3::text[], $4::text[]) AS l(key, display)
            ON CONFLICT (poc_id, {spec.column}) DO UPDATE SET display = EXCLUDED.display
            """,  # noqa: S608 - fixed names
            tenant_id,
            poc_id,
            keys,
            [label.display for label in wanted],
        )


async def add_label(
    connection: Connection, kind: LabelKind, tenant_id: UUID, poc_id: UUID, label: Label
) -> bool:
    """False when the POC already had it (the display form is left as it was)."""
    spec = _LABEL_TABLES[kind]
    status: str = await connection.execute(
        f"INSERT INTO {spec.table} (tenant_id, poc_id, {spec.column}, display)"  # noqa: S608
        f" VALUES ($1, $2, $3, $4) ON CONFLICT (poc_id, {spec.column}) DO NOTHING",
        tenant_id,
        poc_id,
        label.key,
        label.display,
    )
    return status.endswith(" 1")


async def remove_label(connection: Connection, kind: LabelKind, poc_id: UUID, key: str) -> bool:
    spec = _LABEL_TABLES[kind]
    status: str = await connection.execute(
        f"DELETE FROM {spec.table} WHERE poc_id = $1 AND {spec.column} = $2",  # noqa: S608
        poc_id,
        key,
    )
    return status.endswith(" 1")


# -- lists --------------------------------------------------------------------------------------


def _where(query: PocQuery, params: _Params) -> str:
    clauses = [f"p.tenant_id = {params.add(query.tenant_id)}"]
    viewer = params.add(query.viewer_id)
    if query.deleted:
        clauses.append(f"p.deleted_at IS NOT NULL AND p.user_id = {viewer}")
    else:
        clauses.append(f"p.deleted_at IS NULL AND (p.user_id = {viewer} OR p.is_public)")
    if query.owner_id is not None:
        clauses.append(f"p.user_id = {params.add(query.owner_id)}")
    if query.public_only:
        clauses.append("p.is_public")
    if query.is_public is not None:
        clauses.append(f"p.is_public = {params.add(query.is_public)}")
    if query.language is not None:
        clauses.append(f"p.language = {params.add(query.language)}")
    filters: tuple[tuple[LabelKind, tuple[str, ...]], ...] = (
        ("tag", query.tag_keys),
        ("framework", query.framework_keys),
    )
    for kind, keys in filters:
        if keys:
            spec = _LABEL_TABLES[kind]
            wanted = params.add(list(keys))
            clauses.append(
                f"(SELECT count(*) FROM {spec.table} l WHERE l.poc_id = p.poc_id"  # noqa: S608 - fixed names
                f" AND l.{spec.column} = ANY({wanted}::text[])) = cardinality({wanted}::text[])"
            )
    if query.created_from is not None:
        clauses.append(f"p.created_at >= {params.add(query.created_from)}")
    if query.created_to is not None:
        clauses.append(f"p.created_at <= {params.add(query.created_to)}")
    return " AND ".join(clauses)


async def list_pocs(connection: Connection, query: PocQuery) -> tuple[list[PocRecord], int]:
    """One page, newest first, and the number of POCs over all pages."""
    params = _Params()
    where = _where(query, params)
    total = await connection.fetchval(f"SELECT count(*) FROM pocs p WHERE {where}", *params.values)  # noqa: S608
    if not total or query.offset >= total:
        return [], int(total or 0)
    limit, offset = params.add(query.limit), params.add(query.offset)
    rows = await connection.fetch(
        f"SELECT {POC_COLUMNS} FROM pocs p WHERE {where}"  # noqa: S608 - parameters only
        f" ORDER BY p.created_at DESC, p.poc_id DESC LIMIT {limit} OFFSET {offset}",
        *params.values,
    )
    return await _with_labels(connection, rows), int(total)


async def label_counts(
    connection: Connection,
    kind: LabelKind,
    *,
    tenant_id: UUID,
    viewer_id: UUID,
    limit: int,
    prefix: str | None = None,
    language: str | None = None,
) -> list[LabelCount]:
    """How many live POCs the viewer can see carry each tag (or framework), most used first.

    The display form shown is the most common spelling of the key.
    """
    spec = _LABEL_TABLES[kind]
    params = _Params()
    clauses = [
        f"l.tenant_id = {params.add(tenant_id)}",
        "p.deleted_at IS NULL",
        f"(p.user_id = {params.add(viewer_id)} OR p.is_public)",
    ]
    if prefix is not None:
        clauses.append(f"l.{spec.column} LIKE {params.add(like_prefix(prefix))}")
    if language is not None:
        clauses.append(f"p.language = {params.add(language)}")
    rows = await connection.fetch(
        f"""
        SELECT l.{spec.column} AS key, mode() WITHIN GROUP (ORDER BY l.display) AS display,
               count(*) AS uses
        FROM {spec.table} l JOIN pocs p ON p.poc_id = l.poc_id
        WHERE {" AND ".join(clauses)}
        GROUP BY l.{spec.column}
        ORDER BY uses DESC, l.{spec.column}
        LIMIT {params.add(limit)}
        """,  # noqa: S608 - fixed names and parameters only
        *params.values,
    )
    return [LabelCount(key=row["key"], display=row["display"], count=int(row["uses"])) for row in rows]


# -- report selection ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportSelection:
    """The POCs one report covers: the owner's own (private ones too, deleted ones never)."""

    tenant_id: UUID
    owner_id: UUID
    created_from: datetime | None = None
    """Inclusive."""
    created_to: datetime | None = None
    """Exclusive, so consecutive periods never count a POC twice."""
    include_tag_keys: tuple[str, ...] = ()
    """Any of these tags (matching keys); empty: no constraint."""
    exclude_tag_keys: tuple[str, ...] = ()
    """None of these tags."""


def _report_where(selection: ReportSelection, params: _Params) -> str:
    clauses = [
        f"p.tenant_id = {params.add(selection.tenant_id)}",
        f"p.user_id = {params.add(selection.owner_id)}",
        "p.deleted_at IS NULL",
    ]
    if selection.created_from is not None:
        clauses.append(f"p.created_at >= {params.add(selection.created_from)}")
    if selection.created_to is not None:
        clauses.append(f"p.created_at < {params.add(selection.created_to)}")
    if selection.include_tag_keys:
        clauses.append(
            "EXISTS (SELECT 1 FROM poc_tags t WHERE t.poc_id = p.poc_id"  # noqa: S608 - parameters only
            f" AND t.tag = ANY({params.add(list(selection.include_tag_keys))}::text[]))"
        )
    if selection.exclude_tag_keys:
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM poc_tags t WHERE t.poc_id = p.poc_id"  # noqa: S608 - parameters only
            f" AND t.tag = ANY({params.add(list(selection.exclude_tag_keys))}::text[]))"
        )
    return " AND ".join(clauses)


async def count_report_pocs(connection: Connection, selection: ReportSelection) -> int:
    """How many POCs the report would include (checked against the cap before loading any)."""
    params = _Params()
    where = _report_where(selection, params)
    count = await connection.fetchval(f"SELECT count(*) FROM pocs p WHERE {where}", *params.values)  # noqa: S608
    return int(count or 0)


async def select_report_pocs(
    connection: Connection, selection: ReportSelection, *, limit: int
) -> list[PocRecord]:
    """At most `limit` of the report's POCs with their tags and frameworks, oldest first."""
    params = _Params()
    where = _report_where(selection, params)
    rows = await connection.fetch(
        f"SELECT {POC_COLUMNS} FROM pocs p WHERE {where}"  # noqa: S608 - parameters only
        f" ORDER BY p.created_at, p.poc_id LIMIT {params.add(limit)}",
        *params.values,
    )
    return await _with_labels(connection, rows)


# -- reconciliation -----------------------------------------------------------------------------


async def versions_page(
    connection: Connection,
    *,
    after_tenant_id: UUID | None,
    after_poc_id: UUID | None,
    limit: int,
    tenant_ids: Sequence[UUID] = (),
) -> tuple[list[VersionRow], bool]:
    """Every POC (soft-deleted ones too) after the (tenant_id, poc_id) keyset bound, in order.

    PostgreSQL orders UUIDs by their bytes, which is the order of their canonical text.
    `tenant_ids` narrows the listing to those tenants (empty: every tenant).
    """
    params = _Params()
    clauses: list[str] = []
    if after_tenant_id is not None:
        bound = f"({params.add(after_tenant_id)}::uuid, {params.add(after_poc_id or NIL_UUID)}::uuid)"
        clauses.append(f"(tenant_id, poc_id) > {bound}")
    if tenant_ids:
        clauses.append(f"tenant_id = ANY({params.add(list(tenant_ids))}::uuid[])")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await connection.fetch(
        "SELECT tenant_id, poc_id, version, deleted_at IS NOT NULL AS deleted FROM pocs"  # noqa: S608
        f" {where} ORDER BY tenant_id, poc_id LIMIT {params.add(limit + 1)}",
        *params.values,
    )
    items = [
        VersionRow(
            tenant_id=row["tenant_id"], poc_id=row["poc_id"], version=row["version"], deleted=row["deleted"]
        )
        for row in rows[:limit]
    ]
    return items, len(rows) > limit


@dataclass(frozen=True, slots=True)
class RecapOwnerRow:
    tenant_id: UUID
    user_id: UUID
    poc_count: int


async def recap_owners_page(
    connection: Connection,
    *,
    created_from: datetime,
    created_to: datetime,
    after_tenant_id: UUID | None,
    after_user_id: UUID | None,
    limit: int,
    tenant_ids: Sequence[UUID] = (),
) -> tuple[list[RecapOwnerRow], bool]:
    """The (tenant, owner) pairs with live POCs created in ``[created_from, created_to)``, after the
    keyset bound, in order, with how many; for the yearly recap (platform scope)."""
    params = _Params()
    clauses = [
        "deleted_at IS NULL",
        f"created_at >= {params.add(created_from)}",
        f"created_at < {params.add(created_to)}",
    ]
    if after_tenant_id is not None:
        bound = f"({params.add(after_tenant_id)}::uuid, {params.add(after_user_id or NIL_UUID)}::uuid)"
        clauses.append(f"(tenant_id, user_id) > {bound}")
    if tenant_ids:
        clauses.append(f"tenant_id = ANY({params.add(list(tenant_ids))}::uuid[])")
    rows = await connection.fetch(
        "SELECT tenant_id, user_id, count(*) AS poc_count FROM pocs"  # noqa: S608 - parameters only
        f" WHERE {' AND '.join(clauses)} GROUP BY tenant_id, user_id ORDER BY tenant_id, user_id"
        f" LIMIT {params.add(limit + 1)}",
        *params.values,
    )
    items = [
        RecapOwnerRow(tenant_id=row["tenant_id"], user_id=row["user_id"], poc_count=int(row["poc_count"]))
        for row in rows[:limit]
    ]
    return items, len(rows) > limit


# -- bulk (seed data, benchmarks) ---------------------------------------------------------------


async def bulk_insert_pocs(connection: Connection, pocs: Sequence[NewPoc]) -> int:
    """Insert many POCs with three statements and return how many were new.

    Every POC must carry its id; ids already present are skipped, so a repeated seed run
    changes nothing. COPY would be faster still, but PostgreSQL refuses COPY FROM into
    tables with row-level security, so the rows travel as arrays unnested server-side.
    """
    if not pocs:
        return 0
    if any(poc.poc_id is None for poc in pocs):
        raise ValueError("bulk inserts need the POC ids chosen by the caller")
    status: str = await connection.execute(
        """
        INSERT INTO pocs (poc_id, tenant_id, user_id, name, description, repository_url, language,
                          is_public, created_at, updated_at, deleted_at, thumbnail_key)
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                             $7::text[], $8::bool[], $9::timestamptz[], $10::timestamptz[],
                             $11::timestamptz[], $12::text[])
        ON CONFLICT (poc_id) DO NOTHING
        """,
        [poc.poc_id for poc in pocs],
        [poc.tenant_id for poc in pocs],
        [poc.user_id for poc in pocs],
        [poc.name for poc in pocs],
        [poc.description for poc in pocs],
        [poc.repository_url for poc in pocs],
        [poc.language for poc in pocs],
        [poc.is_public for poc in pocs],
        [poc.created_at for poc in pocs],
        [poc.updated_at or poc.created_at for poc in pocs],
        [poc.deleted_at for poc in pocs],
        [poc.thumbnail_key for poc in pocs],
    )
    kinds: tuple[LabelKind, ...] = ("tag", "framework")
    for kind in kinds:
        spec = _LABEL_TABLES[kind]
        rows = [
            (poc.tenant_id, poc.poc_id, label.key, label.display, poc.created_at)
            for poc in pocs
            for label in (poc.tags if kind == "tag" else poc.frameworks)
        ]
        if not rows:
            continue
        columns = list(zip(*rows, strict=True))
        await connection.execute(
            f"""
            INSERT INTO {spec.table} (tenant_id, poc_id, {spec.column}, display, created_at)
            SELECT t, p, k, d, COALESCE(c, now())
            FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])
              AS l(t, p, k, d, c)
            ON CONFLICT (poc_id, {spec.column}) DO NOTHING
            """,  # noqa: S608 - fixed names
            *[list(column) for column in columns],
        )
    return int(status.rsplit(" ", 1)[-1])
