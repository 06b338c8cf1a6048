"""Benchmark: our search against the seed's "Search POC by criteria" query, on the same data.

Run with `uv run python -m bench.search.run`. It starts its own PostgreSQL and Temporal on free
ports, generates 100,000 POCs over 50 tenants with infra/seed_pocs.py's generator, loads them
into the embedded engine (database ``search``) and into a copy of the seed's
``pocs``/``poc_tags``/``poc_frameworks`` tables, then drives both with 16 concurrent clients and
the same mix of queries. Our side is measured in-process through SearchService (the service's
query path: scoping, engine, facets, highlights), not over HTTP; the seed's side is the seed's
SQL through asyncpg. It also times a full reindex through the SearchReindex workflow, and
write-to-searchable latency through the PocIndexing workflow (with a stand-in for catalog's
load activity). Results go to results.json and results.md beside this file.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.worker import Worker

from activities.search import SearchActivities, start_poc_indexing
from api.common.auth import TokenClaims
from api.common.pagination import PageParams
from api.common.settings import Settings
from api.search.engine import SearchQuery
from api.search.postgres_engine import PostgresSearchEngine
from api.search.service import SearchCriteria, SearchService
from bench.machine import machine_facts
from infra.database import migrate
from infra.seed_pocs import generate_pocs
from infra.stack import running_stack
from temporal.client import connect_client
from temporal.worker import WORKFLOW_SANDBOX
from tests.integration.search.catalog_standin import StandInCatalogActivities
from workflows.poc_indexing import PocIndexing
from workflows.poc_indexing_types import PocDocument, PocIndexRequest
from workflows.search_index_types import ReindexInput, ReindexProgress
from workflows.search_reindex import SearchReindex

HERE = Path(__file__).parent
TENANTS = int(os.environ.get("BENCH_TENANTS", "50"))
POCS = int(os.environ.get("BENCH_POCS", "100000"))
USERS_PER_TENANT = 20
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
DURATION = float(os.environ.get("BENCH_SECONDS", "20"))
WARMUP = 3.0
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


async def drive(probes: list[Probe], call: Callable[[Probe], Awaitable[Any]]) -> dict[str, Any]:
    """CONCURRENCY clients loop over shuffled probes for DURATION seconds after a warm-up."""
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {}
    errors = 0
    start = time.perf_counter()
    measure_from, stop_at = start + WARMUP, start + WARMUP + DURATION

    async def client(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        while True:
            probe = rng.choice(probes)
            began = time.perf_counter()
            if began >= stop_at:
                return
            try:
                await call(probe)
            except Exception:
                errors += 1
                continue
            ended = time.perf_counter()
            if began >= measure_from:
                elapsed = (ended - began) * 1000
                latencies.append(elapsed)
                by_kind.setdefault(probe.kind, []).append(elapsed)

    await asyncio.gather(*(client(index) for index in range(CONCURRENCY)))
    result: dict[str, Any] = summary(latencies, DURATION, errors)
    result["by_kind_p95_ms"] = {
        kind: round(percentile(values, 95), 2) for kind, values in sorted(by_kind.items())
    }
    return result


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
        await connection.execute("ANALYZE")
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


async def write_to_searchable(
    settings: Settings, engine: PostgresSearchEngine, users: dict[str, list[str]]
) -> dict[str, Any]:
    """From signal-with-start to the first search that returns the new name."""
    client = await connect_client(settings, wait_seconds=30)
    queue = f"bench-indexing-{uuid.uuid4()}"
    catalog = StandInCatalogActivities()
    search = SearchActivities(engine, temporal_client=client, owns_engine=False)
    latencies: list[float] = []
    tenant = next(iter(users))
    user = users[tenant][0]
    async with Worker(
        client,
        task_queue=queue,
        workflows=[PocIndexing],
        activities=[*catalog.activities(), *search.activities()],
        workflow_runner=WORKFLOW_SANDBOX,
    ):
        for index in range(WRITE_SAMPLES):
            marker = f"zyxbench{index:04d}q"
            now = datetime.now(UTC).isoformat()
            document = PocDocument(
                poc_id=str(uuid.uuid4()),
                tenant_id=tenant,
                user_id=user,
                name=f"Fresh {marker}",
                description=None,
                repository_url="https://git.example/fresh",
                language="Python",
                is_public=True,
                created_at=now,
                updated_at=now,
                version=1,
            )
            catalog.put(document)
            began = time.perf_counter()
            await start_poc_indexing(
                client, PocIndexRequest(tenant_id=tenant, poc_id=document.poc_id, version=1), task_queue=queue
            )
            query = SearchQuery(tenant_id=tenant, viewer_id=user, text=marker, with_facets=False)
            # Polling the read model is the measurement: nothing else could signal visibility.
            while True:
                if (await engine.search(query)).hits:
                    break
                await asyncio.sleep(0.005)
            latencies.append((time.perf_counter() - began) * 1000)
    return {
        "samples": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies), 1),
        "path": "signal-with-start PocIndexing -> load (in-memory stand-in for catalog) -> upsert "
        "activity (real engine) -> first search that finds it; sequential writes, dev server",
    }


async def benchmark(settings: Settings) -> dict[str, Any]:
    await migrate(settings, "search")
    documents, users = build_documents()
    engine = PostgresSearchEngine.from_settings(settings, pool_max=CONCURRENCY)
    await engine.start()
    try:
        started = time.perf_counter()
        for offset in range(0, len(documents), 1000):
            await engine.upsert_many(documents[offset : offset + 1000])
        load_seconds = time.perf_counter() - started
        admin = await asyncpg.connect(settings.superuser_dsn("search"))
        await admin.execute("ANALYZE search_documents; ANALYZE search_terms")
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
            settings.superuser_dsn(BASELINE_DB), min_size=CONCURRENCY, max_size=CONCURRENCY
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

        our_result = await drive(probes, ours)
        seed_result = await drive(probes, seeds)
        await pool.close()
        reindex = await reindex_through_workflow(settings, engine)
        writes = await write_to_searchable(settings, engine, users)
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
            "seconds_each": DURATION,
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


def write_results(results: dict[str, Any]) -> None:
    (HERE / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    queries = results["queries"]
    ours, seed = queries["ours"], queries["seed_ilike"]
    machine = results["machine"]
    reindex, writes = results["reindex_all_through_workflow"], results["write_to_searchable"]
    goal_p95 = "met" if ours["p95_ms"] <= 30 else "NOT met"
    goal_ratio = "met" if queries["p95_ratio_seed_over_ours"] >= 10 else "NOT met"
    lines = [
        "# Search benchmark",
        "",
        f"{machine['date']} on {machine['cpu']} ({machine['cores']} cores, {machine['memory_gib']} GiB), "
        f"{machine['os']}, Python {machine['python']}, commit {machine['git_commit']}."
        " PostgreSQL 18 (embedded).",
        "",
        f"{results['data']['pocs']:,} POCs over {results['data']['tenants']} tenants "
        f"({results['data']['users_per_tenant']} users each), generated by {results['data']['generator']}; "
        f"{queries['concurrency']} concurrent clients for {queries['seconds_each']:.0f} s per side, "
        f"the same mix of queries ({', '.join(queries['mix'])}), page size {queries['page_size']}.",
        "",
        "| | p50 ms | p95 ms | p99 ms | req/s | errors |",
        "|---|---|---|---|---|---|",
        f"| our search ({queries['ours_path']}) | {ours['p50_ms']} | {ours['p95_ms']} | {ours['p99_ms']} "
        f"| {ours['rps']} | {ours['errors']} |",
        f"| seed's ILIKE query ({queries['seed_path']}) | {seed['p50_ms']} | {seed['p95_ms']} "
        f"| {seed['p99_ms']} "
        f"| {seed['rps']} | {seed['errors']} |",
        "",
        f"p95 ratio seed/ours: **{queries['p95_ratio_seed_over_ours']}x** (goal >= 10x: {goal_ratio}); "
        f"our p95 {ours['p95_ms']} ms (goal <= 30 ms: {goal_p95}).",
        "",
        f"p95 by query kind, ours: {ours['by_kind_p95_ms']}; seed: {seed['by_kind_p95_ms']}.",
        "",
        f"Reindex of all {reindex['documents']:,} documents through the SearchReindex workflow"
        f" (batches of 2,000, then REINDEX CONCURRENTLY and ANALYZE): {reindex['seconds']} s"
        f" ({reindex['docs_per_second']:.0f} docs/s).",
        "",
        f"Write-to-searchable through PocIndexing, {writes['samples']} sequential writes:"
        f" p50 {writes['p50_ms']} ms, "
        f"p95 {writes['p95_ms']} ms, max {writes['max_ms']} ms. Path: {writes['path']}. Catalog's real load "
        "activity and its API write are not in this measurement.",
        "",
        f"Loading: read model {results['load_seconds']['search_read_model']} s"
        " (bulk upserts with the lexicon); "
        f"seed tables {results['load_seconds']['seed_tables_copy']} s (COPY).",
        "",
        "Both sides share one PostgreSQL and the benchmark process on the same machine;"
        " the seed's query returns "
        "a page only, ours also counts every match, computes three facets and highlights the page.",
        "",
    ]
    (HERE / "results.md").write_text("\n".join(lines))


def main() -> None:
    var_dir = Path(tempfile.mkdtemp(prefix="mrbill-bench-search-"))
    os.chmod(var_dir, 0o755)  # noqa: S103 - PostgreSQL runs as another user when root
    os.environ.update(
        {
            "MRBILL_VAR_DIR": str(var_dir),
            "MRBILL_PG_PORT": str(_free_port()),
            "MRBILL_TEMPORAL_ADDRESS": f"127.0.0.1:{_free_port()}",
            "MRBILL_TEMPORAL_UI_PORT": str(_free_port()),
            "MRBILL_LOG_JSON": "false",
            "MRBILL_LOG_LEVEL": "WARNING",
        }
    )
    settings = Settings()
    with running_stack(settings, ("postgres", "temporal")):
        results = asyncio.run(benchmark(settings))
    write_results(results)
    print((HERE / "results.md").read_text())


if __name__ == "__main__":
    main()
