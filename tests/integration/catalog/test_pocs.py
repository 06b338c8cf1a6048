"""POCs through the HTTP API: create, read, change, delete, restore, list, validation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from api.catalog.languages import KNOWN_LANGUAGES
from tests.integration.catalog.support import TokenMint, create_poc, poc_body

pytestmark = pytest.mark.integration


async def test_create_normalises_and_returns_the_poc(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    caller = mint.caller()
    response = await client.post(
        "/v1/pocs",
        json=poc_body(
            name="  Chat   em tempo real  ",
            language="golang",
            tags=[" Programação ", "programacao", "API", "tempo  real"],
            frameworks=["Gin", "gin", " gRPC "],
            repositoryUrl="HTTPS://github.com/maria/chat",
        ),
        headers=caller.headers,
    )
    assert response.status_code == 201, response.text
    poc = response.json()
    assert response.headers["location"] == f"/v1/pocs/{poc['pocId']}"
    assert poc["name"] == "Chat em tempo real"
    assert poc["language"] == "Go"
    assert poc["userId"] == str(caller.user_id)
    assert poc["tenantId"] == str(caller.tenant_id)
    assert sorted(poc["tags"]) == ["API", "Programação", "tempo real"]
    assert sorted(poc["frameworks"]) == ["Gin", "gRPC"]
    assert poc["version"] == 1
    assert poc["isPublic"] is False
    assert poc["deletedAt"] is None
    assert poc["thumbnailUrl"] is None

    fetched = await client.get(f"/v1/pocs/{poc['pocId']}", headers=caller.headers)
    assert fetched.status_code == 200
    assert fetched.json() == poc


async def test_patch_changes_only_what_was_sent(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    caller = mint.caller()
    poc = await create_poc(client, caller, description="antes", tags=["a", "b"])
    response = await client.patch(
        f"/v1/pocs/{poc['pocId']}",
        json={"description": None, "isPublic": True, "tags": ["c"], "language": "ts"},
        headers=caller.headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["description"] is None
    assert updated["isPublic"] is True
    assert updated["tags"] == ["c"]
    assert updated["language"] == "TypeScript"
    assert updated["name"] == poc["name"]
    assert updated["frameworks"] == poc["frameworks"]
    assert updated["version"] == poc["version"] + 1
    assert updated["updatedAt"] >= poc["updatedAt"]

    unchanged = await client.patch(f"/v1/pocs/{poc['pocId']}", json={}, headers=caller.headers)
    assert unchanged.status_code == 200
    assert unchanged.json()["version"] == updated["version"]


async def test_every_invalid_field_is_reported_at_once(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    caller = mint.caller()
    response = await client.post(
        "/v1/pocs",
        json=poc_body(
            name="   ",
            repositoryUrl="ftp://example.com/repo",
            description="x" * 5001,
            tags=[f"tag{index}" for index in range(21)],
            frameworks=["y" * 51, "ok", "a/b"],
        ),
        headers=caller.headers,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422
    assert problem["code"] == "validation-failed"
    fields = {error["field"] for error in problem["errors"]}
    assert fields == {"name", "repositoryUrl", "description", "tags", "frameworks[0]", "frameworks[2]"}


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://",
        "https://user:secret@example.com/x",
        "not a url",
    ],
)
async def test_repository_url_must_be_http_or_https(
    client: AsyncTestClient[Any], mint: TokenMint, url: str
) -> None:
    response = await client.post("/v1/pocs", json=poc_body(repositoryUrl=url), headers=mint.caller().headers)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["repositoryUrl"]


async def test_unknown_language_lists_the_allowed_ones(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    caller = mint.caller()
    response = await client.post(
        "/v1/pocs", json=poc_body(language="Klingon"), headers=caller.with_language("en")
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["allowedLanguages"] == list(KNOWN_LANGUAGES)
    assert "Other" in problem["allowedLanguages"]
    (error,) = problem["errors"]
    assert error["field"] == "language"
    assert 'Unknown language "Klingon"' in error["message"]
    assert "Python" in error["message"]


async def test_messages_follow_the_callers_language(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    caller = mint.caller()
    body = poc_body(name="", language="Klingon")
    portuguese = await client.post("/v1/pocs", json=body, headers=caller.with_language("pt-BR"))
    english = await client.post("/v1/pocs", json=body, headers=caller.with_language("en"))
    assert portuguese.status_code == english.status_code == 422
    pt_messages = {error["field"]: error["message"] for error in portuguese.json()["errors"]}
    en_messages = {error["field"]: error["message"] for error in english.json()["errors"]}
    assert en_messages["name"] == "Must not be empty."
    assert pt_messages["name"] == "Não pode ficar vazio."
    assert pt_messages["language"].startswith('Linguagem desconhecida "Klingon"')
    assert portuguese.json()["title"] != english.json()["title"]

    missing = await client.get(f"/v1/pocs/{uuid.uuid4()}", headers=caller.with_language("pt-BR"))
    assert missing.status_code == 404
    assert missing.json()["title"] == "POC não encontrada"


async def test_unknown_fields_and_wrong_types_are_refused(
    client: AsyncTestClient[Any], mint: TokenMint
) -> None:
    caller = mint.caller()
    unknown = await client.post("/v1/pocs", json=poc_body(ispublic=True), headers=caller.headers)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "ispublic"
    wrong_type = await client.post("/v1/pocs", json=poc_body(tags="api"), headers=caller.headers)
    assert wrong_type.status_code == 422
    not_json = await client.post(
        "/v1/pocs", content=b"{", headers={**caller.headers, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.headers["content-type"].startswith("application/problem+json")


async def test_soft_delete_hides_and_restore_brings_back(
    client: AsyncTestClient[Any], mint: TokenMint
) -> None:
    caller = mint.caller()
    poc = await create_poc(client, caller)
    poc_path = f"/v1/pocs/{poc['pocId']}"

    assert (await client.delete(poc_path, headers=caller.headers)).status_code == 204
    assert (await client.get(poc_path, headers=caller.headers)).status_code == 404
    assert (await client.delete(poc_path, headers=caller.headers)).status_code == 404
    mine = (await client.get("/v1/pocs", params={"owner": "me"}, headers=caller.headers)).json()
    assert mine["totalItems"] == 0
    trash = (await client.get("/v1/pocs", params={"deleted": "true"}, headers=caller.headers)).json()
    assert [item["pocId"] for item in trash["items"]] == [poc["pocId"]]
    assert trash["items"][0]["deletedAt"] is not None
    assert trash["items"][0]["version"] == 2

    restored = await client.post(f"{poc_path}/restore", headers=caller.headers)
    assert restored.status_code == 200, restored.text
    assert restored.json()["deletedAt"] is None
    assert restored.json()["version"] == 3
    assert restored.json()["tags"] == poc["tags"]
    again = await client.post(f"{poc_path}/restore", headers=caller.headers)
    assert again.status_code == 200
    assert again.json()["version"] == 3
    assert (await client.get(poc_path, headers=caller.headers)).status_code == 200


async def test_lists_mine_and_the_tenants_public_ones_with_filters(
    client: AsyncTestClient[Any], mint: TokenMint
) -> None:
    me = mint.caller()
    colleague = mint.caller(me.tenant_id)
    mine_private = await create_poc(client, me, language="py", tags=["dados"], isPublic=False)
    mine_public = await create_poc(client, me, language="Rust", tags=["Dados", "cli"], isPublic=True)
    theirs_public = await create_poc(client, colleague, language="Python", tags=["dados"], isPublic=True)
    await create_poc(client, colleague, language="Python", tags=["dados"], isPublic=False)

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/v1/pocs", params=params, headers=me.headers)
        assert response.status_code == 200, response.text
        return [item["pocId"] for item in response.json()["items"]]

    newest_first = [theirs_public["pocId"], mine_public["pocId"], mine_private["pocId"]]
    assert await ids() == newest_first
    assert await ids(owner="me") == [mine_public["pocId"], mine_private["pocId"]]
    assert await ids(visibility="public") == [theirs_public["pocId"], mine_public["pocId"]]
    assert await ids(owner=str(colleague.user_id)) == [theirs_public["pocId"]]
    assert await ids(owner="me", isPublic="false") == [mine_private["pocId"]]
    assert await ids(language="python") == [theirs_public["pocId"], mine_private["pocId"]]
    assert await ids(tag="DADOS") == newest_first
    assert await ids(tag=["dados", "cli"]) == [mine_public["pocId"]]
    assert await ids(framework="fastapi") == newest_first
    now = datetime.now(UTC)
    assert await ids(createdFrom=(now - timedelta(hours=1)).isoformat()) == newest_first
    assert await ids(createdTo=(now - timedelta(hours=1)).isoformat()) == []

    page = (await client.get("/v1/pocs", params={"pageSize": 2, "page": 2}, headers=me.headers)).json()
    assert page["totalItems"] == 3
    assert page["totalPages"] == 2
    assert [item["pocId"] for item in page["items"]] == [mine_private["pocId"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"language": "Klingon"}, "language"),
        ({"owner": "someone"}, "owner"),
        ({"visibility": "secret"}, "visibility"),
        ({"pageSize": "500"}, "pageSize"),
        ({"createdFrom": "2025-01-02T00:00:00Z", "createdTo": "2025-01-01T00:00:00Z"}, "createdTo"),
    ],
)
async def test_bad_list_parameters_are_400(
    client: AsyncTestClient[Any], mint: TokenMint, params: dict[str, str], field: str
) -> None:
    response = await client.get("/v1/pocs", params=params, headers=mint.caller().headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {error["field"] for error in response.json().get("errors", [])}


async def test_languages_are_listed_with_their_aliases(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    response = await client.get("/v1/languages", headers=mint.caller().headers)
    assert response.status_code == 200
    languages = {item["name"]: item["aliases"] for item in response.json()}
    assert list(languages) == list(KNOWN_LANGUAGES)
    assert "py" in languages["Python"]
    assert "golang" in languages["Go"]
    assert {"cs", "csharp"} <= set(languages["C#"])
