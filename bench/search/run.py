"""Benchmark: our search against the seed's "Search POC by criteria" query, on the same data.

Run with `uv run python -m bench.search.run`. It starts its own PostgreSQL and Temporal on free
ports, generates 100,000 POCs over 50 tenants with infra/seed_pocs.py's generator, loads them
into the embedded engine (database ``search``) and into a copy of the seed's
``pocs``/``poc_tags``/``poc_frameworks`` tables, then drives both with 16 concurrent clients and
the same mix of queries. Our side is measured in-process through SearchService (the service's
query path: scoping, engine, facets, highlights), not over HTTP; the seed's side is the seed's
SQL through asyncpg. Both sides get the same number of pooled connections, released without a
reset statement. It also times a full reindex through the SearchReindex workflow, and
write-to-searchable latency through the real path: catalog's API (``POST /v1/pocs``, the
catalog app in-process over httpx's ASGI transport, with a signed access token), PocIndexing on
the real indexing worker (catalog's load activity and search's upsert), until SearchService
finds the new POC. Results go to results.json and results.md beside this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
from litestar import Litestar
from temporalio.worker import Worker

from activities.search import SearchActivities
from api.catalog.app import create_app as create_catalog_app
from api.common.auth import StaticKeySet, TokenClaims
from api.common.pagination import PageParams
from api.common.settings import Settings
from api.search.postgres_engine import PostgresSearchEngine
from api.search.service import SearchCriteria, SearchService
from bench.machine import machine_facts
from infra.database import migrate
from infra.seed_pocs import generate_pocs
from infra.stack import free_port, running_stack
from temporal.client import connect_client
from temporal.worker import WORKFLOW_SANDBOX, build_worker, indexing_activities
from tests.unit.common.token_factory import new_signing_key, sign_access_token
from workflows.poc_indexing_types import PocDocument
from workflows.search_index_types import ReindexInput, ReindexProgress
from workflows.search_reindex import SearchReindex

HERE = Path(__file__).parent
TENANTS = int(os.environ.get("BENCH_TENANTS", "50"))
POCS = int(os.environ.get("BENCH_POCS", "100000"))
USERS_PER_TENANT = 20
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
POOL_OVERRIDE = int(os.environ.get("BENCH_POOL", "0"))
"""Pooled connections per side, the same for both; by default the services' ``db_pool_max``."""
DURATION = float(os.environ.get("BENCH_SECONDS", "20"))
WARMUP = 3.0
SETTLE = 0.5
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
PAGE_SIZE = 20
WRITE_SAMPLES = int(os.environ.get("BENCH_WRITES", "100"))
BASELINE_DB = "search_bench_seed"

SEED_SCHEMA = """
CREATE TABLE pocs (
  poc_id UUID PRIMARY KEY,
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
  thumbnail_url VARCHAR(255)
);
CREATE INDEX idx_pocs_tenant_id ON pocs(tenant_id);
CREATE INDEX idx_pocs_user_id ON pocs(user_id);
CREATE INDEX idx_pocs_language ON pocs(language);
CREATE INDEX idx_pocs_created_at ON pocs(created_at);
CREATE INDEX idx_pocs_is_public ON pocs(is_public);
CREATE TABLE poc_tags (
  poc_id UUID NOT NULL REFERENCES pocs(poc_id) ON DELETE CASCADE,
  tag VARCHAR(50) NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  PRIMARY KEY (poc_id, tag)
);
CREATE INDEX idx_poc_tags_tag ON poc_tags(tag);
CREATE TABLE poc_frameworks (
  poc_id UUID NOT NULL REFERENCES pocs(poc_id) ON DELETE CASCADE,
  framework VARCHAR(50) NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  PRIMARY KEY (poc_id, framework)
);
CREATE INDEX idx_poc_frameworks_framework ON poc_frameworks(framework);
"""

SEED_QUERY = """
SELECT p.*, array_agg(DISTINCT pt.tag) as tags, array_agg(DISTINCT pf.framework) as frameworks
FROM pocs p
LEFT JOIN poc_tags pt ON p.poc_id = pt.poc_id
LEFT JOIN poc_frameworks pf ON p.poc_id = pf.poc_id
WHERE p.tenant_id = $1
  AND (p.user_id = $2 OR p.is_public = TRUE)
  AND ($3::text IS NULL OR p.language = $3)
  AND (
    $4::text IS NULL OR
    p.name ILIKE '%' || $4 || '%' OR
    p.description ILIKE '%' || $4 || '%'
  )
  AND p.deleted_at IS NULL
GROUP BY p.poc_id
HAVING ($5::text IS NULL OR $5 = ANY(array_agg(pt.tag)))
ORDER BY p.created_at DESC
LIMIT $6 OFFSET $7
"""
"""The seed's section "Search POC by criteria", verbatim but for numbered parameters."""


@dataclass(frozen=True)
class Probe:
    """One query of the mix, in both dialects."""

    kind: str
    tenant_id: str
    user_id: str
    text: str | None = None
    language: str | None = None
    tag: str | None = None


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


def summary(latencies: list[float], seconds: float, errors: int) -> dict[str, float | int]:
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else float("nan"),
    }


def postgres_cpu_seconds(settings: Settings) -> float | None:
    """CPU time used so far by the PostgreSQL server's processes (Linux /proc), None elsewhere."""
    try:
        pid_file = settings.var_dir / "postgres" / "pgdata" / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0])
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended while we looked
            if int(stat.parent.name) == postmaster or int(fields[1]) == postmaster:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Measured:
    """What one side's measured windows add up to."""

    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    seconds: float = 0.0
    process_cpu: float = 0.0
    postgres_cpu: float | None = 0.0


async def drive_window(
    probes: list[Probe],
    call: Callable[[Probe], Awaitable[Any]],
    settings: Settings,
    measured: Measured,
    *,
    warmup: float,
    seconds: float,
) -> None:
    """CONCURRENCY clients loop over shuffled probes; what starts after `warmup` is measured.

    CPU time of this process (clients, service, driver) and of PostgreSQL is sampled over the
    measured window, so the cost of one request on each side is known, not guessed.
    """
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    cpu: dict[str, tuple[float, float | None]] = {}

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            probe = rng.choice(probes)
            began = time.perf_counter()
            if began >= stop_at:
                return
            try:
                await call(probe)
            except Exception:
                measured.errors += 1
                continue
            if began >= measure_from:
                elapsed = (time.perf_counter() - began) * 1000
                measured.latencies.append(elapsed)
                measured.by_kind.setdefault(probe.kind, []).append(elapsed)

    async def sample_cpu() -> None:
        await asyncio.sleep(measure_from - time.perf_counter())
        cpu["from"] = (process_cpu_seconds(), postgres_cpu_seconds(settings))
        await asyncio.sleep(stop_at - time.perf_counter())
        cpu["to"] = (process_cpu_seconds(), postgres_cpu_seconds(settings))

    await asyncio.gather(sample_cpu(), *(client(seed) for seed in range(CONCURRENCY)))
    (process_from, postgres_from), (process_to, postgres_to) = cpu["from"], cpu["to"]
    measured.seconds += seconds
    measured.process_cpu += process_to - process_from
    if measured.postgres_cpu is not None and postgres_from is not None and postgres_to is not None:
        measured.postgres_cpu += postgres_to - postgres_from
    else:
        measured.postgres_cpu = None


def measured_summary(measured: Measured) -> dict[str, Any]:
    result: dict[str, Any] = summary(measured.latencies, measured.seconds, measured.errors)
    for p, name in ((50, "by_kind_p50_ms"), (95, "by_kind_p95_ms")):
        result[name] = {
            kind: round(percentile(values, p), 2) for kind, values in sorted(measured.by_kind.items())
        }
    requests = max(1, len(measured.latencies))
    result["cpu_ms_per_request"] = {
        "benchmark_process": round(measured.process_cpu / requests * 1000, 3),
        "postgresql": (
            round(measured.postgres_cpu / requests * 1000, 3) if measured.postgres_cpu is not None else None
        ),
    }
    return result


async def compare(
    probes: list[Probe], sides: dict[str, Callable[[Probe], Awaitable[Any]]], settings: Settings
) -> dict[str, dict[str, Any]]:
    """Each side for DURATION seconds in total, in ROUNDS windows taking turns.

    On a machine shared with other work, a burst of load then falls on both sides alike
    instead of on whichever ran at that moment. The first window of each side starts after
    a WARMUP (connections, prepared statements, caches); later ones after a short settle, so
    the clients' simultaneous first requests are not measured.
    """
    measured = {name: Measured() for name in sides}
    for round_index in range(ROUNDS):
        for name, call in sides.items():
            await drive_window(
                probes,
                call,
                settings,
                measured[name],
                warmup=WARMUP if round_index == 0 else SETTLE,
                seconds=DURATION / ROUNDS,
            )
    return {name: measured_summary(value) for name, value in measured.items()}


def misspell(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    index = rng.randrange(1, len(word) - 2)
    return word[:index] + word[index + 1] + word[index] + word[index + 2 :]


def build_documents() -> tuple[list[PocDocument], dict[str, list[str]]]:
    documents: list[PocDocument] = []
    users: dict[str, list[str]] = {}
    per_tenant = POCS // TENANTS
    until = datetime(2026, 11, 1, tzinfo=UTC)
    for tenant_index in range(TENANTS):
        tenant = uuid.UUID(int=tenant_index + 1, version=4)
        owners = [uuid.uuid5(tenant, f"user-{index}") for index in range(USERS_PER_TENANT)]
        users[str(tenant)] = [str(owner) for owner in owners]
        for poc in generate_pocs(tenant, owners, per_tenant, until=until):
            created = poc.created_at or until
            documents.append(
                PocDocument(
                    poc_id=str(poc.poc_id or uuid.uuid4()),
                    tenant_id=str(tenant),
                    user_id=str(poc.user_id),
                    name=poc.name,
                    description=poc.description,
                    repository_url=poc.repository_url,
                    language=poc.language,
                    is_public=poc.is_public,
                    created_at=created.isoformat(),
                    updated_at=(poc.updated_at or created).isoformat(),
                    version=1,
                    deleted=poc.deleted_at is not None,
                    tags=[label.display for label in poc.tags],
                    frameworks=[label.display for label in poc.frameworks],
                )
            )
    return documents, users


def build_probes(documents: list[PocDocument], users: dict[str, list[str]], count: int = 2000) -> list[Probe]:
    rng = random.Random(7)
    live = [document for document in documents if not document.deleted]
    probes: list[Probe] = []
    kinds = ["word", "misspelt", "two_words", "language", "tag", "word_and_language", "newest"]
    for index in range(count):
        sample = rng.choice(live)
        tenant = sample.tenant_id
        user = rng.choice(users[tenant])
        words = [word for word in sample.name.split() if len(word) >= 4 and word.isalpha()] or [
            sample.name.split()[0]
        ]
        kind = kinds[index % len(kinds)]
        if kind == "word":
            probes.append(Probe(kind, tenant, user, text=rng.choice(words)))
        elif kind == "misspelt":
            probes.append(Probe(kind, tenant, user, text=misspell(rng.choice(words), rng)))
        elif kind == "two_words":
            probes.append(Probe(kind, tenant, user, text=" ".join(words[:2])))
        elif kind == "language":
            probes.append(Probe(kind, tenant, user, language=sample.language))
        elif kind == "tag" and sample.tags:
            probes.append(Probe(kind, tenant, user, tag=rng.choice(sample.tags)))
        elif kind == "word_and_language":
            probes.append(Probe(kind, tenant, user, text=rng.choice(words), language=sample.language))
        else:
            probes.append(Probe("newest", tenant, user))
    return probes


def claims_of(probe: Probe) -> TokenClaims:
    now = datetime.now(UTC)
    return TokenClaims(
        user_id=uuid.UUID(probe.user_id),
        tenant_id=uuid.UUID(probe.tenant_id),
        roles=("MEMBER",),
        jti="bench",
        expires_at=now,
        issued_at=now,
    )


async def load_baseline(settings: Settings, documents: list[PocDocument]) -> float:
    admin = await asyncpg.connect(settings.superuser_dsn())
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {BASELINE_DB}")
        await admin.execute(f"CREATE DATABASE {BASELINE_DB}")
    finally:
        await admin.close()
    started = time.perf_counter()
    connection = await asyncpg.connect(settings.superuser_dsn(BASELINE_DB))
    try:
        await connection.execute(SEED_SCHEMA)
        await connection.copy_records_to_table(
            "pocs",
            records=[
                (
                    uuid.UUID(document.poc_id),
                    uuid.UUID(document.user_id),
                    uuid.UUID(document.tenant_id),
                    document.name[:100],
                    document.description,
                    document.repository_url[:255],
                    document.language,
                    document.is_public,
                    datetime.fromisoformat(document.created_at),
                    datetime.fromisoformat(document.updated_at),
                    datetime.fromisoformat(document.updated_at) if document.deleted else None,
                )
                for document in documents
            ],
            columns=[
                "poc_id",
                "user_id",
                "tenant_id",
                "name",
                "description",
                "repository_url",
                "language",
                "is_public",
                "created_at",
                "updated_at",
                "deleted_at",
            ],
        )
        await connection.copy_records_to_table(
            "poc_tags",
            records=[(uuid.UUID(d.poc_id), tag[:50]) for d in documents for tag in dict.fromkeys(d.tags)],
            columns=["poc_id", "tag"],
        )
        await connection.copy_records_to_table(
            "poc_frameworks",
            records=[(uuid.UUID(d.poc_id), fw[:50]) for d in documents for fw in dict.fromkeys(d.frameworks)],
            columns=["poc_id", "framework"],
        )
        for table in ("pocs", "poc_tags", "poc_frameworks"):
            await connection.execute(f"VACUUM ANALYZE {table}")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def reindex_through_workflow(settings: Settings, engine: PostgresSearchEngine) -> dict[str, Any]:
    client = await connect_client(settings, wait_seconds=30)
    queue = f"bench-reindex-{uuid.uuid4()}"
    activities = SearchActivities(engine, temporal_client=client, owns_engine=False)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[SearchReindex],
        activities=list(activities.activities()),
        workflow_runner=WORKFLOW_SANDBOX,
    ):
        started = time.perf_counter()
        progress: ReindexProgress = await client.execute_workflow(
            SearchReindex.run,
            ReindexInput(tenant_id=None, requested_by="bench", batch_size=2000),
            id=f"search-reindex/all/bench-{uuid.uuid4().hex}",
            task_queue=queue,
        )
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 1),
        "documents": progress.copied,
        "batches": progress.batches,
        "docs_per_second": round(progress.copied / seconds, 0),
        "notes": progress.notes,
    }


async def release_without_reset(connection: asyncpg.Connection) -> None:
    """Pool release for both sides: neither changes its session, so no reset statement is sent."""


@contextlib.asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app on this loop (its pools live here), its lifespan in a task of its own."""
    started, stopping = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with app.lifespan():
            started.set()
            await stopping.wait()

    server = asyncio.create_task(serve())
    await asyncio.wait([server, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if server.done():
        server.result()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=cast(Any, app)), base_url="http://catalog.bench"
        ) as client:
            yield client
    finally:
        stopping.set()
        await server


def latency_summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies), 1),
    }


async def write_to_searchable(settings: Settings, engine: PostgresSearchEngine) -> dict[str, Any]:
    """From ``POST /v1/pocs`` to the first search through SearchService that returns the new POC.

    The catalog app (its own pool, Valkey denylist, Temporal client) and the indexing worker
    (catalog's and search's real activities, each with its own pool) run in this process; the
    search polls every 5 ms through the service, as a user of the new POC's tenant.
    """
    await migrate(settings, "catalog")
    client = await connect_client(settings, wait_seconds=30)
    queue = f"bench-indexing-{uuid.uuid4()}"
    signing_key = new_signing_key()
    tenant, user = uuid.uuid4(), uuid.uuid4()
    token = sign_access_token(signing_key, settings, sub=str(user), tid=str(tenant), roles=["MEMBER"])
    headers = {"Authorization": f"Bearer {token}"}
    app = create_catalog_app(
        settings, key_set=StaticKeySet([signing_key]), temporal_client=client, indexing_task_queue=queue
    )
    service = SearchService(engine)
    now = datetime.now(UTC)
    claims = TokenClaims(
        user_id=user, tenant_id=tenant, roles=("MEMBER",), jti="bench", expires_at=now, issued_at=now
    )
    totals: list[float] = []
    writes: list[float] = []
    async with indexing_activities(settings) as provider:
        worker = build_worker("indexing", client, settings, task_queue=queue, activities=provider)
        async with worker, serving(app) as http:
            for index in range(WRITE_SAMPLES + 3):
                marker = f"zyxbench{index:04d}q"
                body = {
                    "name": f"Fresh {marker}",
                    "repositoryUrl": "https://git.example/fresh",
                    "description": "Uma prova de conceito recém-criada.",
                    "language": "Python",
                    "isPublic": True,
                    "tags": ["bench", "fresh"],
                    "frameworks": ["FastAPI"],
                }
                criteria = SearchCriteria(text=marker)
                began = time.perf_counter()
                response = await http.post("/v1/pocs", json=body, headers=headers)
                written = time.perf_counter()
                if response.status_code != 201:
                    raise RuntimeError(f"POST /v1/pocs answered {response.status_code}: {response.text}")
                poc_id = response.json()["pocId"]
                async with asyncio.timeout(30):
                    # Polling the read model is the measurement: nothing else could signal visibility.
                    while True:
                        result = await service.search_pocs(claims, criteria, PageParams(page=1, page_size=5))
                        if any(hit.poc_id == poc_id for hit in result.hits):
                            break
                        await asyncio.sleep(0.005)
                if index >= 3:  # the first writes warm up connections and prepared statements
                    totals.append((time.perf_counter() - began) * 1000)
                    writes.append((written - began) * 1000)
    return {
        "samples": len(totals),
        **latency_summary(totals),
        "api_write": latency_summary(writes),
        "path": "catalog POST /v1/pocs (in-process ASGI, signed token, catalog database, commit)"
        " -> signal-with-start PocIndexing -> indexing worker: catalog's load_poc_document, search's"
        " upsert_document (real activities, own pools) -> first SearchService search that returns it;"
        " sequential writes, Temporal dev server",
    }


async def benchmark(settings: Settings) -> dict[str, Any]:
    await migrate(settings, "search")
    documents, users = build_documents()
    pool_size = POOL_OVERRIDE or settings.db_pool_max
    engine = PostgresSearchEngine.from_settings(settings, pool_max=pool_size)
    await engine.start()
    try:
        started = time.perf_counter()
        for offset in range(0, len(documents), 1000):
            await engine.upsert_many(documents[offset : offset + 1000])
        load_seconds = time.perf_counter() - started
        admin = await asyncpg.connect(settings.superuser_dsn("search"))
        for table in ("search_documents", "search_terms"):
            await admin.execute(f"VACUUM ANALYZE {table}")
        lexicon = await admin.fetchval("SELECT count(*) FROM search_terms")
        await admin.close()
        baseline_load = await load_baseline(settings, documents)
        probes = build_probes(documents, users)

        service = SearchService(engine)

        async def ours(probe: Probe) -> Any:
            criteria = SearchCriteria(
                text=probe.text,
                languages=(probe.language,) if probe.language else (),
                tags=(probe.tag,) if probe.tag else (),
                sort="relevance" if probe.text else "newest",
            )
            return await service.search_pocs(
                claims_of(probe), criteria, PageParams(page=1, page_size=PAGE_SIZE)
            )

        pool = await asyncpg.create_pool(
            settings.superuser_dsn(BASELINE_DB),
            min_size=pool_size,
            max_size=pool_size,
            reset=release_without_reset,
        )

        async def seeds(probe: Probe) -> Any:
            return await pool.fetch(
                SEED_QUERY,
                uuid.UUID(probe.tenant_id),
                uuid.UUID(probe.user_id),
                probe.language,
                probe.text,
                probe.tag,
                PAGE_SIZE,
                0,
            )

        load_average = os.getloadavg()
        compared = await compare(probes, {"ours": ours, "seed": seeds}, settings)
        our_result, seed_result = compared["ours"], compared["seed"]
        await pool.close()
        reindex = await reindex_through_workflow(settings, engine)
        writes = await write_to_searchable(settings, engine)
    finally:
        await engine.close()
    return {
        "machine": machine_facts(),
        "data": {
            "pocs": len(documents),
            "tenants": TENANTS,
            "users_per_tenant": USERS_PER_TENANT,
            "soft_deleted": sum(1 for document in documents if document.deleted),
            "generator": "infra/seed_pocs.py generate_pocs",
            "lexicon_terms": lexicon,
        },
        "load_seconds": {
            "search_read_model": round(load_seconds, 1),
            "seed_tables_copy": round(baseline_load, 1),
        },
        "queries": {
            "concurrency": CONCURRENCY,
            "pool_size_each": pool_size,
            "load_average_before": [round(value, 2) for value in load_average],
            "seconds_each": DURATION,
            "rounds": ROUNDS,
            "page_size": PAGE_SIZE,
            "mix": sorted({probe.kind for probe in probes}),
            "ours": our_result,
            "seed_ilike": seed_result,
            "p95_ratio_seed_over_ours": round(seed_result["p95_ms"] / our_result["p95_ms"], 1),
            "p50_ratio_seed_over_ours": round(seed_result["p50_ms"] / our_result["p50_ms"], 1),
            "ours_path": "in-process: SearchService.search_pocs -> PostgresSearchEngine"
            " (total, facets, highlights)",
            "seed_path": "in-process: the seed's SQL through asyncpg (one page, no count, no facets)",
        },
        "reindex_all_through_workflow": reindex,
        "write_to_searchable": writes,
    }


CHANGES = (
    "Before the changes below, the previous run of this benchmark (commit 67b34e8, 16 pooled"
    " connections, the sides run one after the other) measured our search at p50 42.2 ms / p95"
    " 65.0 ms against the seed's 22.5 / 103.8 ms (1.6x at p95).",
    "",
    "Where the time went and what changed (measured with EXPLAIN ANALYZE on one tenant of 2,000 POCs,"
    " perf on the server, and CPU per request):",
    "",
    "- Round trips: a search was BEGIN, two set_config, lexicon lookup, page, facets, COMMIT and the pool's"
    " reset statement, 8 to 10 round trips. It is now one statement (a second only when a typed word is"
    " unknown to the tenant's lexicon and has correction candidates, filtered by edit distance in"
    " Python): the tenant is set by the statement's first CTE and every table read sits in a LATERAL"
    " subquery depending on it, so row-level security still filters every row; hits, total, facets and"
    " highlights come back in one row. The pool releases connections without a reset statement (the"
    " session never changes).",
    "- Row-level security evaluated current_setting() and a text-to-uuid cast on every row; the same"
    " predicate now reads each setting once per statement (InitPlan), which also fixed row estimates.",
    "- Indexes: under forced row-level security PostgreSQL uses an index only for leakproof operators;"
    " @@, @>, &&, % and LIKE are not, so the GIN indexes on the text vector, tags, frameworks and"
    " trigrams were never used, only maintained on writes. They are gone; visible rows are read as two"
    " disjoint tenant-led b-tree ranges (public, and the viewer's own), so rows the viewer may not see"
    " are never read, and a search without text reads a covering index only.",
    "- Rows were wide with the match columns last, and deforming them dominated the server profile: the"
    " table is rebuilt with the columns a match needs first; language, tags and frameworks are one"
    " facet_values array, so the three facets are one pass.",
    "- Matches are read once, narrow, into a CTE; total and facets count it, the page sorts it; only the"
    " page's rows are read in full, scored when not sorted by relevance, and highlighted (ts_headline"
    " alone: a field without a mark has no match). Filter values are folded once per statement, which"
    " keeps prepared statements on generic plans.",
    "- Not done: caching results of identical queries (it would measure the cache, not the search).",
)


def write_results(results: dict[str, Any]) -> None:
    (HERE / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    queries = results["queries"]
    ours, seed = queries["ours"], queries["seed_ilike"]
    machine = results["machine"]
    reindex, writes = results["reindex_all_through_workflow"], results["write_to_searchable"]
    goal_p95 = "met" if ours["p95_ms"] <= 30 else "NOT met"
    ratio = queries["p95_ratio_seed_over_ours"]
    goal_ratio = "met" if ratio >= 10 else "NOT met"
    cores = machine["cores"] or 1
    kinds = sorted(ours["by_kind_p95_ms"])
    lines = [
        "# Search benchmark",
        "",
        f"{machine['date']} on {machine['cpu']} ({cores} cores, {machine['memory_gib']} GiB), "
        f"{machine['os']}, Python {machine['python']}, commit {machine['git_commit']}."
        " PostgreSQL 18 (embedded). Load average before the query phase:"
        f" {', '.join(str(value) for value in queries['load_average_before'])}.",
        "",
        f"{results['data']['pocs']:,} POCs over {results['data']['tenants']} tenants "
        f"({results['data']['users_per_tenant']} users each), generated by {results['data']['generator']}; "
        f"{queries['concurrency']} concurrent clients for {queries['seconds_each']:.0f} s per side, in"
        f" {queries['rounds']} windows taking turns (each side's first after a {WARMUP:.0f} s"
        f" warm-up), the same mix of queries ({', '.join(queries['mix'])}), page size"
        f" {queries['page_size']}, {queries['pool_size_each']} pooled connections per side.",
        "",
        "| | p50 ms | p95 ms | p99 ms | req/s | errors | CPU ms/request (this process + PostgreSQL) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, side, path in (
        ("our search", ours, queries["ours_path"]),
        ("seed's ILIKE query", seed, queries["seed_path"]),
    ):
        cpu = side["cpu_ms_per_request"]
        lines.append(
            f"| {label} ({path}) | {side['p50_ms']} | {side['p95_ms']} | {side['p99_ms']} | {side['rps']} "
            f"| {side['errors']} | {cpu['benchmark_process']} + {cpu['postgresql']} |"
        )
    lines += [
        "",
        f"p95 ratio seed/ours: **{ratio}x** (goal >= 10x: {goal_ratio}); p50 ratio"
        f" {queries['p50_ratio_seed_over_ours']}x; our p95 {ours['p95_ms']} ms (goal <= 30 ms: {goal_p95}).",
        "",
        "| query kind | ours p50 ms | ours p95 ms | seed p50 ms | seed p95 ms | p95 ratio |",
        "|---|---|---|---|---|---|",
    ]
    for kind in kinds:
        ours_p95, seed_p95 = ours["by_kind_p95_ms"][kind], seed["by_kind_p95_ms"].get(kind, float("nan"))
        lines.append(
            f"| {kind} | {ours['by_kind_p50_ms'][kind]} | {ours_p95} | {seed['by_kind_p50_ms'].get(kind)}"
            f" | {seed_p95} | {round(seed_p95 / ours_p95, 1)}x |"
        )
    ours_cpu = ours["cpu_ms_per_request"]
    if ours_cpu["postgresql"] is not None:
        per_request = ours_cpu["benchmark_process"] + ours_cpu["postgresql"]
        capacity = cores * 1000 / per_request
        needed_p95 = seed["p95_ms"] / 10
        tail = ours["p95_ms"] / ours["mean_ms"]
        lines += [
            "",
            "Reading the numbers: the clients, the service code and PostgreSQL share the same"
            f" {cores} cores, and the {queries['concurrency']} clients run a closed loop, so latency is"
            f" roughly clients / throughput and throughput at most cores / CPU per request. Ours costs"
            f" {per_request:.2f} ms of CPU per search ({ours_cpu['benchmark_process']} ms in this process,"
            f" {ours_cpu['postgresql']} ms in PostgreSQL): at most about {capacity:.0f} searches/s here, so"
            f" a mean latency of at least about {queries['concurrency'] / capacity * 1000:.0f} ms."
            f" A p95 of {needed_p95:.1f} ms (10x the seed's), with our p95/mean ratio of {tail:.2f},"
            f" would need at most about {cores * needed_p95 / (queries['concurrency'] * tail):.2f} ms of"
            " CPU per search, all included. The seed's query does less per request: one page, no total,"
            " no facets, no typo tolerance, no highlights, no row-level security (it runs as the"
            " superuser, as the seed's design has none). Ours counts and facets every match: for a"
            " search without text that is every POC the viewer may see in the tenant (about 1,000 of"
            " 2,000), and text and tag matches cannot use an index under forced row-level security"
            " (see below).",
        ]
    lines += [
        "",
        *CHANGES,
        "",
        f"Reindex of all {reindex['documents']:,} documents through the SearchReindex workflow"
        f" (batches of 2,000, then REINDEX CONCURRENTLY and ANALYZE): {reindex['seconds']} s"
        f" ({reindex['docs_per_second']:.0f} docs/s).",
        "",
        f"Write-to-searchable, {writes['samples']} sequential writes through the real path: p50"
        f" {writes['p50_ms']} ms, p95 {writes['p95_ms']} ms, max {writes['max_ms']} ms (goal p95 <= 1 s:"
        f" {'met' if writes['p95_ms'] <= 1000 else 'NOT met'}); of which the API write (POST until 201):"
        f" p50 {writes['api_write']['p50_ms']} ms, p95 {writes['api_write']['p95_ms']} ms."
        f" Path: {writes['path']}.",
        "",
        f"Loading: read model {results['load_seconds']['search_read_model']} s"
        " (bulk upserts with the lexicon); "
        f"seed tables {results['load_seconds']['seed_tables_copy']} s (COPY); then VACUUM ANALYZE on both.",
        "",
        "Both sides share one PostgreSQL and the benchmark process on the same machine; the seed's pool"
        " also releases without a reset statement, so neither side pays a round trip the other does not.",
        "",
    ]
    (HERE / "results.md").write_text("\n".join(lines))


def main() -> None:
    var_dir = Path(tempfile.mkdtemp(prefix="mrbill-bench-search-"))
    os.chmod(var_dir, 0o755)  # noqa: S103 - PostgreSQL runs as another user when root
    os.environ.update(
        {
            "MRBILL_VAR_DIR": str(var_dir),
            "MRBILL_PG_PORT": str(free_port()),
            "MRBILL_VALKEY_URL": f"redis://127.0.0.1:{free_port()}/0",
            "MRBILL_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "MRBILL_TEMPORAL_UI_PORT": str(free_port()),
            "MRBILL_LOG_JSON": "false",
            "MRBILL_LOG_LEVEL": "WARNING",
        }
    )
    settings = Settings()
    try:
        with running_stack(settings, ("postgres", "valkey", "temporal")):
            results = asyncio.run(benchmark(settings))
    finally:
        if not os.environ.get("BENCH_KEEP_DATA"):
            shutil.rmtree(var_dir, ignore_errors=True)  # over a gigabyte of PostgreSQL data
    write_results(results)
    print((HERE / "results.md").read_text())


if __name__ == "__main__":
    main()
