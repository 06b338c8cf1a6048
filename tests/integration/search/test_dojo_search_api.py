"""searchDojos over HTTP: tokens, camelCase bodies, problem+json, and what a client cannot widen.

Tokens are signed here and verified through a static key set (a stand-in for identity's JWKS
endpoint); the app runs the embedded engine on the session's real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.common.auth import StaticKeySet
from api.common.settings import Settings
from api.search.app import create_app
from tests.integration.search.test_dojo_search_behaviour import DojoCorpus, build_dojo_corpus
from tests.integration.search.test_search_api import SIGNING_KEY, bearer, serving

pytestmark = [pytest.mark.integration, pytest.mark.security]


@pytest.fixture(scope="module")
async def api(search_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, DojoCorpus]]:
    app = create_app(search_settings, key_set=StaticKeySet([SIGNING_KEY]))
    corpus = build_dojo_corpus()
    async with serving(app) as client:
        dojos = app.state.search.engine.dojos
        for document in corpus.documents.values():
            assert await dojos.upsert(document)
        yield client, corpus


async def test_search_answers_the_listing_in_camel_case(
    api: tuple[httpx.AsyncClient, DojoCorpus], search_settings: Settings
) -> None:
    client, corpus = api
    response = await client.get(
        "/v1/search/dojos",
        params={"pageSize": "2", "page": "2"},
        headers=bearer(search_settings, corpus.tenant_a, corpus.alice),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["totalItems"], body["page"], body["pageSize"], body["totalPages"]) == (5, 2, 2, 3)
    assert [item["dojoId"] for item in body["items"]] == [
        corpus.documents[key].dojo_id for key in ("algorithms", "kata")
    ]
    first = body["items"][0]
    assert first == {
        "dojoId": corpus.documents["algorithms"].dojo_id,
        "creatorId": corpus.bob,
        "name": "Dojo de Algoritmos",
        "description": "Grafos e programação dinâmica",
        "language": "Python",
        "status": "SCHEDULED",
        "isPrivate": False,
        "scheduledStartTime": "2030-01-20T19:00:00Z",
        "createdAt": "2029-09-01T09:00:00Z",
        "startedAt": None,
        "endedAt": None,
        "participantCount": 1,
        "version": 1,
        "score": None,
    }


async def test_text_and_filters_travel_as_query_parameters(
    api: tuple[httpx.AsyncClient, DojoCorpus], search_settings: Settings
) -> None:
    client, corpus = api
    headers = bearer(search_settings, corpus.tenant_a, corpus.dave)
    misspelt = await client.get("/v1/search/dojos", params={"q": "owneship"}, headers=headers)
    assert [item["name"] for item in misspelt.json()["items"]] == ["Rust ownership dojo"]
    filtered = await client.get(
        "/v1/search/dojos",
        params={
            "language": ["python", "Go"],
            "status": ["ACTIVE", "COMPLETED"],
            "scheduledFrom": "2029-10-01",
            "scheduledTo": "2030-01-10",
        },
        headers=headers,
    )
    assert filtered.status_code == 200, filtered.text
    assert [item["name"] for item in filtered.json()["items"]] == [
        "Randori de Python",
        "Python testing retrospective",
    ]


async def test_the_client_cannot_widen_tenant_or_visibility(
    api: tuple[httpx.AsyncClient, DojoCorpus], search_settings: Settings
) -> None:
    client, corpus = api
    response = await client.get(
        "/v1/search/dojos",
        params={"q": "rust", "tenantId": corpus.tenant_b, "creatorId": corpus.bob, "isPrivate": "true"},
        headers=bearer(search_settings, corpus.tenant_a, corpus.alice),
    )
    assert response.status_code == 200
    assert response.json()["items"] == []
    as_carol = await client.get(
        "/v1/search/dojos",
        params={"q": "python", "status": ["ACTIVE", "SCHEDULED", "COMPLETED", "CANCELLED"]},
        headers=bearer(search_settings, corpus.tenant_b, corpus.carol),
    )
    assert [item["name"] for item in as_carol.json()["items"]] == ["Python randori secreto"]
    assert "memberIds" not in as_carol.json()["items"][0]


async def test_bad_parameters_are_problem_json_in_the_callers_language(
    api: tuple[httpx.AsyncClient, DojoCorpus], search_settings: Settings
) -> None:
    client, corpus = api
    headers = bearer(search_settings, corpus.tenant_a, corpus.alice)
    dates = await client.get(
        "/v1/search/dojos",
        params={"scheduledFrom": "2030-13-01", "scheduledTo": "soon"},
        headers={**headers, "Accept-Language": "pt-BR"},
    )
    assert dates.status_code == 400
    assert dates.headers["content-type"].startswith("application/problem+json")
    problem = dates.json()
    assert {error["field"] for error in problem["errors"]} == {"scheduledFrom", "scheduledTo"}
    assert problem["detail"] == "Alguns parâmetros da requisição são inválidos."
    for params in ({"status": "SOMETIME"}, {"sort": "random"}, {"pageSize": "500"}):
        response = await client.get("/v1/search/dojos", params=params, headers=headers)
        assert response.status_code == 400, params
    assert (await client.get("/v1/search/dojos")).status_code == 401


async def test_the_openapi_document_describes_search_dojos(api: tuple[httpx.AsyncClient, DojoCorpus]) -> None:
    client, _ = api
    document = (await client.get("/schema/openapi.json")).json()
    operation = document["paths"]["/v1/search/dojos"]["get"]
    assert operation["operationId"] == "searchDojos"
    assert {"q", "language", "status", "scheduledFrom", "scheduledTo", "sort", "page", "pageSize"} <= {
        parameter["name"] for parameter in operation["parameters"]
    }
