"""The search service over HTTP: tokens, camelCase bodies, problem+json, and the reindex job.

Tokens are signed here and verified through a static key set (a stand-in for identity's JWKS
endpoint); the reindex job runs on the session's real Temporal dev server with a worker that
serves the indexing queue's real workflows and activities.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import pytest
from joserfc.jwk import OKPKey
from litestar import Litestar
from temporalio.worker import Worker

from activities.search import SearchActivities
from api.common.auth import StaticKeySet
from api.common.settings import Settings
from api.search.app import create_app
from api.search.engine import SearchEngine
from api.search.postgres_engine import PostgresSearchEngine
from temporal.client import connect_client
from temporal.interceptors import TenantContextInterceptor
from temporal.worker import WORKFLOW_SANDBOX
from tests.integration.search.support import Corpus, build_corpus
from tests.unit.common.token_factory import new_signing_key, sign_access_token
from workflows.poc_indexing import PocIndexing, PocIndexReconciliation
from workflows.search_index_types import TASK_QUEUE
from workflows.search_reindex import SearchReindex

pytestmark = [pytest.mark.integration, pytest.mark.security]

SIGNING_KEY: OKPKey = new_signing_key()


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the test's own loop (its asyncpg pool lives there), its lifespan in a task of its own.

    Litestar's AsyncTestClient would serve it from a portal thread with another loop.
    """
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
            transport=httpx.ASGITransport(app=cast(Any, app)), base_url="http://search.test"
        ) as client:
            yield client
    finally:
        stopping.set()
        await server


@pytest.fixture(scope="module")
async def api(search_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Corpus]]:
    temporal = await connect_client(search_settings)
    worker_engine = PostgresSearchEngine.from_settings(search_settings)
    await worker_engine.start()
    worker = Worker(
        temporal,
        task_queue=TASK_QUEUE,
        workflows=[PocIndexing, PocIndexReconciliation, SearchReindex],
        activities=list(
            SearchActivities(worker_engine, temporal_client=temporal, owns_engine=False).activities()
        ),
        interceptors=[TenantContextInterceptor()],
        workflow_runner=WORKFLOW_SANDBOX,
    )
    app = create_app(search_settings, key_set=StaticKeySet([SIGNING_KEY]), temporal_client=temporal)
    corpus = build_corpus()
    async with worker, serving(app) as client:
        engine: SearchEngine = app.state.search.engine
        for document in corpus.documents.values():
            await engine.upsert(document)
        yield client, corpus
    await worker_engine.close()


def bearer(settings: Settings, tenant: str, user: str, *roles: str) -> dict[str, str]:
    token = sign_access_token(SIGNING_KEY, settings, sub=user, tid=tenant, roles=list(roles or ("MEMBER",)))
    return {"Authorization": f"Bearer {token}"}


async def test_search_answers_camel_case_with_facets_and_safe_highlights(
    api: tuple[httpx.AsyncClient, Corpus], search_settings: Settings
) -> None:
    client, corpus = api
    response = await client.get(
        "/v1/search/pocs",
        params={"q": "pyhton", "tags": ["python", "data"], "tagsMode": "any", "pageSize": "2"},
        headers=bearer(search_settings, corpus.tenant_a, corpus.alice),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["totalItems"], body["page"], body["pageSize"], body["totalPages"]) == (3, 1, 2, 2)
    assert {item["pocId"] for item in body["items"]} <= {
        corpus.documents[key].poc_id for key in ("course", "pipeline", "analysis")
    }
    assert {"languages", "tags", "frameworks"} == set(body["facets"])
    assert {"value": "Python", "count": 3} in body["facets"]["languages"]
    highlighted = [fragment for item in body["items"] for fragment in item["highlights"].get("name", [])]
    assert any("<mark>Python</mark>" in fragment for fragment in highlighted)


async def test_the_client_cannot_widen_tenant_or_visibility(
    api: tuple[httpx.AsyncClient, Corpus], search_settings: Settings
) -> None:
    client, corpus = api
    response = await client.get(
        "/v1/search/pocs",
        params={"owner": corpus.bob, "isPublic": "false", "tenantId": corpus.tenant_b},
        headers=bearer(search_settings, corpus.tenant_a, corpus.alice),
    )
    assert response.status_code == 200
    assert response.json()["items"] == []


async def test_bad_parameters_are_problem_json(
    api: tuple[httpx.AsyncClient, Corpus], search_settings: Settings
) -> None:
    client, corpus = api
    response = await client.get(
        "/v1/search/pocs",
        params={"owner": "somebody", "from": "2024-13-01"},
        headers={**bearer(search_settings, corpus.tenant_a, corpus.alice), "Accept-Language": "pt-BR"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {error["field"] for error in response.json()["errors"]} == {"owner", "from"}
    sort = await client.get(
        "/v1/search/pocs",
        params={"sort": "random"},
        headers=bearer(search_settings, corpus.tenant_a, corpus.alice),
    )
    assert sort.status_code == 400


async def test_a_token_is_required(api: tuple[httpx.AsyncClient, Corpus]) -> None:
    client, _ = api
    response = await client.get("/v1/search/pocs")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_suggestions(api: tuple[httpx.AsyncClient, Corpus], search_settings: Settings) -> None:
    client, corpus = api
    response = await client.get(
        "/v1/search/suggestions",
        params={"prefix": "dash", "kind": "poc"},
        headers=bearer(search_settings, corpus.tenant_a, corpus.alice),
    )
    assert response.status_code == 200
    assert response.json() == {"kind": "poc", "prefix": "dash", "suggestions": ["React Dashboard"]}


async def test_index_management_is_for_administrators(
    api: tuple[httpx.AsyncClient, Corpus], search_settings: Settings
) -> None:
    client, corpus = api
    member = bearer(search_settings, corpus.tenant_a, corpus.alice)
    assert (await client.post("/v1/search/reindex", json={}, headers=member)).status_code == 403
    admin = bearer(search_settings, corpus.tenant_a, corpus.bob, "ADMIN")
    assert (await client.get("/v1/search/indices", headers=admin)).status_code == 403
    everything = await client.post("/v1/search/reindex", json={"scope": "all"}, headers=admin)
    assert everything.status_code == 403
    superadmin = bearer(search_settings, str(uuid.uuid4()), str(uuid.uuid4()), "SUPERADMIN")
    indices = await client.get("/v1/search/indices", headers=superadmin)
    assert indices.status_code == 200
    assert indices.json()["engine"] == "postgres"
    assert indices.json()["indices"][0]["documents"] >= len(corpus.documents) - 1
    aliases = await client.get("/v1/search/aliases", headers=admin)
    assert aliases.json() == {"engine": "postgres", "aliases": {}}


async def test_an_admin_reindexes_the_tenant_and_follows_its_progress(
    api: tuple[httpx.AsyncClient, Corpus], search_settings: Settings
) -> None:
    client, corpus = api
    admin = bearer(search_settings, corpus.tenant_a, corpus.bob, "ADMIN")
    started = await client.post("/v1/search/reindex", json={"scope": "tenant"}, headers=admin)
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert location == f"/v1/search/reindex/{started.json()['reindexId']}"
    status: dict[str, Any] = {}
    for _ in range(100):
        status = (await client.get(location, headers=admin)).json()
        if status["status"] != "RUNNING":
            break
        await asyncio.sleep(0.1)
    assert status["status"] == "COMPLETED", status
    assert (status["phase"], status["percent"]) == ("DONE", 100)
    tenant_documents = sum(
        1 for document in corpus.documents.values() if document.tenant_id == corpus.tenant_a
    )
    assert status["copied"] == status["total"] == tenant_documents
    outsider = bearer(search_settings, corpus.tenant_b, corpus.carol, "ADMIN")
    assert (await client.get(location, headers=outsider)).status_code == 404
    after = await client.get(
        "/v1/search/pocs",
        params={"q": "programacao"},
        headers=bearer(search_settings, corpus.tenant_a, corpus.alice),
    )
    assert [item["name"] for item in after.json()["items"]] == ["Curso de Programação em Python"]
