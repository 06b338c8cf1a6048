"""Tags of a POC, and the tenant's popular tags and frameworks with suggestions."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import AsyncTestClient

from tests.integration.catalog.support import TokenMint, create_poc

pytestmark = pytest.mark.integration


async def test_add_and_remove_tags_of_a_poc(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    owner = mint.caller()
    poc = await create_poc(client, owner, tags=["api"])
    tags_path = f"/v1/pocs/{poc['pocId']}/tags"

    added = await client.post(tags_path, json={"tag": "  Programação "}, headers=owner.headers)
    assert added.status_code == 201, added.text
    assert added.json() == ["api", "Programação"]
    again = await client.post(tags_path, json={"tag": "PROGRAMACAO"}, headers=owner.headers)
    assert again.status_code == 200
    assert again.json() == ["api", "Programação"]
    assert (await client.get(tags_path, headers=owner.headers)).json() == ["api", "Programação"]
    after_add = (await client.get(f"/v1/pocs/{poc['pocId']}", headers=owner.headers)).json()
    assert after_add["version"] == poc["version"] + 1

    removed = await client.delete(f"{tags_path}/{quote('programacao')}", headers=owner.headers)
    assert removed.status_code == 204
    assert (await client.get(tags_path, headers=owner.headers)).json() == ["api"]
    missing = await client.delete(f"{tags_path}/nada", headers=owner.headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "tag-not-found"
    after_remove = (await client.get(f"/v1/pocs/{poc['pocId']}", headers=owner.headers)).json()
    assert after_remove["version"] == poc["version"] + 2


async def test_tag_limits_are_enforced(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    owner = mint.caller()
    poc = await create_poc(client, owner, tags=[f"t{index}" for index in range(20)])
    tags_path = f"/v1/pocs/{poc['pocId']}/tags"
    full = await client.post(tags_path, json={"tag": "one-too-many"}, headers=owner.headers)
    assert full.status_code == 422
    assert full.json()["errors"][0]["field"] == "tag"
    too_long = await client.post(tags_path, json={"tag": "x" * 51}, headers=owner.headers)
    assert too_long.status_code == 422
    slash = await client.post(tags_path, json={"tag": "a/b"}, headers=owner.headers)
    assert slash.status_code == 422
    assert len((await client.get(tags_path, headers=owner.headers)).json()) == 20


async def test_popular_tags_count_only_what_the_caller_can_see(
    client: AsyncTestClient[Any], mint: TokenMint
) -> None:
    me = mint.caller()
    colleague = mint.caller(me.tenant_id)
    stranger = mint.caller()
    await create_poc(client, me, tags=["Segurança", "api"], isPublic=False)
    await create_poc(client, me, tags=["segurança", "cli"], isPublic=True)
    await create_poc(client, colleague, tags=["segurança", "api"], isPublic=True)
    await create_poc(client, colleague, tags=["segredo", "api"], isPublic=False)
    deleted = await create_poc(client, colleague, tags=["api"], isPublic=True)
    await client.delete(f"/v1/pocs/{deleted['pocId']}", headers=colleague.headers)
    await create_poc(client, stranger, tags=["api", "segurança"], isPublic=True)

    response = await client.get("/v1/tags/popular", headers=me.headers)
    assert response.status_code == 200, response.text
    counts = {item["tag"]: item["count"] for item in response.json()}
    assert counts == {"segurança": 3, "api": 2, "cli": 1}
    assert [item["tag"] for item in response.json()] == ["segurança", "api", "cli"]

    colleague_view = (await client.get("/v1/tags/popular", headers=colleague.headers)).json()
    assert {item["tag"]: item["count"] for item in colleague_view} == {
        "api": 2,
        "segurança": 2,
        "cli": 1,
        "segredo": 1,
    }
    limited = (await client.get("/v1/tags/popular", params={"limit": 1}, headers=me.headers)).json()
    assert len(limited) == 1


async def test_tag_suggestions_ignore_case_and_accents(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    me = mint.caller()
    await create_poc(client, me, tags=["Programação", "programação funcional", "python"])
    await create_poc(client, me, tags=["programação", "prometheus"])

    async def suggest(prefix: str) -> list[str]:
        response = await client.get("/v1/tags/suggestions", params={"prefix": prefix}, headers=me.headers)
        assert response.status_code == 200, response.text
        suggestions: list[str] = response.json()
        return suggestions

    assert await suggest("PROGRAMAC") == ["Programação", "programação funcional"]
    assert await suggest("pro") == ["Programação", "programação funcional", "prometheus"]
    assert await suggest("%") == []
    assert await suggest("zzz") == []
    empty = await client.get("/v1/tags/suggestions", params={"prefix": ""}, headers=me.headers)
    assert empty.status_code == 400


async def test_frameworks_popular_per_language_and_suggestions(
    client: AsyncTestClient[Any], mint: TokenMint
) -> None:
    me = mint.caller()
    await create_poc(client, me, language="Python", frameworks=["FastAPI", "Pandas"])
    await create_poc(client, me, language="py", frameworks=["fastapi"])
    await create_poc(client, me, language="TypeScript", frameworks=["React", "Fastify"])
    other_user = mint.caller(me.tenant_id)
    await create_poc(client, other_user, language="Python", frameworks=["Django"], isPublic=False)

    python = await client.get("/v1/frameworks/popular", params={"language": "python3"}, headers=me.headers)
    assert python.status_code == 200, python.text
    assert python.json() == [{"framework": "FastAPI", "count": 2}, {"framework": "Pandas", "count": 1}]
    everything = (await client.get("/v1/frameworks/popular", headers=me.headers)).json()
    assert {item["framework"] for item in everything} == {"FastAPI", "Pandas", "React", "Fastify"}
    suggestions = await client.get(
        "/v1/frameworks/suggestions", params={"prefix": "fast"}, headers=me.headers
    )
    assert suggestions.json() == ["FastAPI", "Fastify"]
    unknown = await client.get("/v1/frameworks/popular", params={"language": "Klingon"}, headers=me.headers)
    assert unknown.status_code == 400
    assert "Python" in unknown.json()["allowedLanguages"]

    poc = await create_poc(client, me, frameworks=["Litestar", "msgspec"])
    listed = await client.get(f"/v1/pocs/{poc['pocId']}/frameworks", headers=me.headers)
    assert listed.json() == ["Litestar", "msgspec"]
    assert (await client.get(f"/v1/pocs/{uuid.uuid4()}/frameworks", headers=me.headers)).status_code == 404
