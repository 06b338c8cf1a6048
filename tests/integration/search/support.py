"""Engines under test and a small corpus every behaviour test reads.

The embedded engine always runs, as the application role of the session's real PostgreSQL.
The OpenSearch engine runs against the server named by OPENSEARCH_URL, in indices of its own
that are deleted afterwards; without that variable its tests are skipped, saying why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from api.common.settings import Settings
from api.search.engine import SearchEngine
from api.search.opensearch_engine import OpenSearchEngine
from api.search.postgres_engine import PostgresSearchEngine
from infra.database import migrate
from workflows.poc_indexing_types import PocDocument

ENGINES = ("postgres", "opensearch")
OPENSEARCH_URL = os.environ.get("OPENSEARCH_URL")
NO_OPENSEARCH = "OPENSEARCH_URL is not set: no OpenSearch server to test against on this machine"


async def migrated(settings: Settings) -> Settings:
    """Until the lead adds search to SERVICES, the session does not migrate it; this is idempotent."""
    await migrate(settings, "search")
    return settings


@asynccontextmanager
async def running_engine(kind: str, settings: Settings) -> AsyncIterator[SearchEngine]:
    if kind == "postgres":
        postgres = PostgresSearchEngine.from_settings(settings)
        await postgres.start()
        try:
            yield postgres
        finally:
            await postgres.close()
        return
    if not OPENSEARCH_URL:
        pytest.skip(NO_OPENSEARCH)
    opensearch = OpenSearchEngine.from_url(
        OPENSEARCH_URL,
        index_prefix=f"mrbill-test-{uuid.uuid4().hex[:8]}",
        shards=1,
        replicas=0,
        refresh="wait_for",
        verify_certs=False,
    )
    await opensearch.ensure_indices()
    try:
        yield opensearch
    finally:
        await opensearch.client.indices.delete(index=f"{opensearch.prefix}-v*")
        await opensearch.close()


def instant(text: str) -> str:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat()


@dataclass
class Corpus:
    """Two tenants; in tenant A, alice and bob, each with public and private POCs."""

    tenant_a: str = field(default_factory=lambda: str(uuid.uuid4()))
    tenant_b: str = field(default_factory=lambda: str(uuid.uuid4()))
    alice: str = field(default_factory=lambda: str(uuid.uuid4()))
    bob: str = field(default_factory=lambda: str(uuid.uuid4()))
    carol: str = field(default_factory=lambda: str(uuid.uuid4()))
    documents: dict[str, PocDocument] = field(default_factory=dict)

    def add(
        self,
        key: str,
        *,
        tenant: str,
        user: str,
        name: str,
        description: str,
        language: str,
        public: bool,
        tags: list[str],
        frameworks: list[str],
        created: str,
    ) -> None:
        self.documents[key] = PocDocument(
            poc_id=str(uuid.uuid4()),
            tenant_id=tenant,
            user_id=user,
            name=name,
            description=description,
            repository_url=f"https://git.example/{key}",
            language=language,
            is_public=public,
            created_at=instant(created),
            updated_at=instant(created),
            version=1,
            tags=tags,
            frameworks=frameworks,
            thumbnail_key=f"tenants/{tenant}/pocs/{key}.png" if key == "course" else None,
        )

    def key_of(self, poc_id: str) -> str:
        return next(key for key, document in self.documents.items() if document.poc_id == poc_id)

    def keys(self, poc_ids: list[str]) -> list[str]:
        return [self.key_of(poc_id) for poc_id in poc_ids]


def build_corpus() -> Corpus:
    corpus = Corpus()
    a, b = corpus.tenant_a, corpus.tenant_b
    corpus.add(
        "course",
        tenant=a,
        user=corpus.alice,
        name="Curso de Programação em Python",
        description="Aprenda programação com exemplos práticos de APIs",
        language="Python",
        public=True,
        tags=["educação", "python", "backend"],
        frameworks=["django"],
        created="2022-03-10T12:00:00",
    )
    corpus.add(
        "dashboard",
        tenant=a,
        user=corpus.alice,
        name="React Dashboard",
        description="A dashboard built with React and chart libraries",
        language="TypeScript",
        public=True,
        tags=["frontend", "charts"],
        frameworks=["react", "vite"],
        created="2023-06-01T09:30:00",
    )
    corpus.add(
        "pipeline",
        tenant=a,
        user=corpus.bob,
        name="Python data pipeline",
        description="Nightly ingestion jobs with retries",
        language="Python",
        public=True,
        tags=["data", "python"],
        frameworks=["pandas", "airflow"],
        created="2024-01-15T08:00:00",
    )
    corpus.add(
        "engine",
        tenant=a,
        user=corpus.bob,
        name="Secret Rust engine",
        description="Experimental game engine",
        language="Rust",
        public=False,
        tags=["systems"],
        frameworks=["tokio"],
        created="2024-02-20T18:45:00",
    )
    corpus.add(
        "service",
        tenant=a,
        user=corpus.alice,
        name="Go microservice",
        description="Small HTTP service with a private engine room",
        language="Go",
        public=False,
        tags=["backend", "api"],
        frameworks=["gin"],
        created="2021-11-05T10:00:00",
    )
    corpus.add(
        "analysis",
        tenant=a,
        user=corpus.bob,
        name="Análise de dados com Pandas",
        description="Exploração de dados em Python com gráficos",
        language="Python",
        public=True,
        tags=["data", "análise"],
        frameworks=["pandas"],
        created="2023-09-09T15:00:00",
    )
    corpus.add(
        "sauce",
        tenant=b,
        user=corpus.carol,
        name="Python secret sauce",
        description="Tenant B's own python dashboard engine",
        language="Python",
        public=True,
        tags=["python", "data"],
        frameworks=["flask"],
        created="2023-05-05T05:05:00",
    )
    return corpus
