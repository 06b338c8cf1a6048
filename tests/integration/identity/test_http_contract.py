"""The edges of the HTTP surface: problem+json for every bad input, in pt-BR or en, and the OpenAPI."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.identity.support import IdentityClient, bearer, login, seed_tenant

pytestmark = pytest.mark.integration


async def test_problem_details_follow_accept_language(client: IdentityClient) -> None:
    body = {"tenantSlug": "nowhere", "email": "a@example.com", "password": "whatever it is"}

    english = await client.post("/v1/auth/login", json=body, headers={"Accept-Language": "en-US,en;q=0.9"})
    portuguese = await client.post("/v1/auth/login", json=body, headers={"Accept-Language": "pt-BR"})

    assert english.json()["title"] == "Invalid credentials"
    assert english.json()["detail"] == "The tenant, e-mail or password is not correct."
    assert english.headers["content-language"] == "en"
    assert portuguese.json()["title"] == "Credenciais inválidas"
    assert portuguese.json()["detail"] == "A organização, o e-mail ou a senha não estão corretos."
    assert portuguese.headers["content-language"] == "pt-BR"
    assert english.json()["type"] == portuguese.json()["type"]
    assert english.json()["code"] == portuguese.json()["code"] == "invalid-credentials"


async def test_the_users_own_language_wins_over_the_browser(client: IdentityClient) -> None:
    seeded = await seed_tenant(client, owner_locale="en")
    tokens = await login(client, seeded.slug, seeded.owner.email)

    response = await client.get(
        f"/v1/users/{uuid.uuid4()}", headers={**bearer(tokens), "Accept-Language": "pt-BR"}
    )

    assert response.status_code == 404
    assert response.json()["detail"] == "No such user in this tenant."
    switched = await client.patch("/v1/me", json={"locale": "pt_BR"}, headers=bearer(tokens))
    assert switched.status_code == 200
    fresh = await login(client, seeded.slug, seeded.owner.email)
    again = await client.get(f"/v1/users/{uuid.uuid4()}", headers={**bearer(fresh), "Accept-Language": "en"})
    assert again.json()["detail"] == "Não existe esse usuário nesta organização."


async def test_every_bad_input_is_a_clear_client_error(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    tokens = await login(client, seeded.slug, seeded.owner.email)
    auth = {**bearer(tokens), "Accept-Language": "en"}

    cases = [
        (
            "POST",
            "/v1/auth/login",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
        ),
        ("POST", "/v1/auth/login", {"json": ["a", "list"]}, 422),
        ("POST", "/v1/auth/login", {"json": {"tenantSlug": "x", "email": "a@b.c"}}, 422),
        ("POST", "/v1/auth/login", {"json": {"tenantSlug": 1, "email": "a@b.c", "password": "p"}}, 422),
        (
            "POST",
            "/v1/auth/login",
            {"json": {"tenantSlug": "x", "email": "a@b.c", "password": "p" * 300}},
            422,
        ),
        ("GET", "/v1/users/not-a-uuid", {"headers": auth}, 404),
        ("GET", "/v1/users", {"params": {"pageSize": 1000}, "headers": auth}, 400),
        ("GET", "/v1/users", {"params": {"page": 0}, "headers": auth}, 400),
        ("GET", "/v1/users", {"params": {"role": "KING"}, "headers": auth}, 400),
        ("GET", "/v1/me", {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}}, 401),
        ("GET", "/v1/me", {"headers": {"Authorization": "Bearer not.a.jwt"}}, 401),
        ("GET", "/v1/me", {}, 401),
        ("PATCH", "/v1/me", {"json": {"fullName": "x" * 101}, "headers": auth}, 422),
        ("DELETE", "/v1/me/sessions/123", {"headers": auth}, 404),
        ("PUT", "/v1/me", {"headers": auth}, 405),
        ("GET", "/v1/nothing-here", {"headers": auth}, 404),
    ]
    for method, path, kwargs, expected in cases:
        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == expected, (method, path, kwargs, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), (path, response.text)
        problem = response.json()
        assert problem["status"] == expected
        assert problem["title"]
        assert problem["code"]
    missing = await client.post("/v1/auth/login", json={"email": "a@b.c"}, headers={"Accept-Language": "en"})
    # msgspec stops at the first missing field.
    assert missing.json()["errors"] == [{"field": "tenantSlug", "message": "This field is required."}]
    unauthenticated = await client.get("/v1/me", headers={"Accept-Language": "en"})
    assert unauthenticated.headers["www-authenticate"] == "Bearer"


async def test_the_openapi_document_names_every_operation(client: IdentityClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operation_ids = [
        operation["operationId"]
        for path_item in document["paths"].values()
        for method, operation in path_item.items()
        if method in {"get", "post", "patch", "put", "delete"}
    ]
    assert len(operation_ids) == len(set(operation_ids))
    expected = {
        "login", "refreshToken", "logout", "validateToken", "getMe", "updateMe", "changeMyPassword",
        "listMySessions", "revokeMySession", "createUser", "listUsers", "getUser", "updateUser",
        "deactivateUser", "createTenant", "listTenants", "getTenant", "updateTenant", "deactivateTenant",
        "listAuditEvents", "signUp", "getSignup", "getJwks", "acceptInvitation", "resendInvitation",
    }  # fmt: skip
    assert expected <= set(operation_ids)
    login_schema = document["components"]["schemas"]["LoginRequest"]
    assert set(login_schema["properties"]) == {"tenantSlug", "email", "password"}
    accept_schema = document["components"]["schemas"]["InvitationAcceptance"]
    assert set(accept_schema["properties"]) == {"token", "password", "fullName"}


async def test_readiness_checks_the_database_valkey_and_temporal(client: IdentityClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert {name: check["status"] for name, check in checks.items()} == {
        "database": "ok",
        "valkey": "ok",
        "temporal": "ok",
    }
