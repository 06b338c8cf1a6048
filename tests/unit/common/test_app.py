"""A service built with create_service_app: auth middleware, guards, probes, metrics, logs, OpenAPI."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
import structlog
from litestar import Request, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.testing import AsyncTestClient

from api.common.app import create_service_app
from api.common.auth import StaticKeySet, TokenClaims, provide_claims, requires_roles
from api.common.errors import PROBLEM_MEDIA_TYPE
from api.common.i18n import current_locale
from api.common.logging import kernel_log_handler
from api.common.settings import Settings
from api.common.tenancy import current_tenant_id
from tests.unit.common.token_factory import new_signing_key, sign_access_token

pytestmark = [pytest.mark.unit, pytest.mark.security]

SETTINGS = Settings(log_json=True, log_level="DEBUG")
KEY = new_signing_key("app-key")


@get("/v1/me", operation_id="getMe", dependencies={"claims": Provide(provide_claims, sync_to_thread=False)})
async def me(claims: NamedDependency[TokenClaims]) -> dict[str, Any]:
    return {
        "userId": str(claims.user_id),
        "roles": list(claims.roles),
        "tenantInContext": str(current_tenant_id.get()),
        "locale": current_locale.get(),
        "logContext": {k: str(v) for k, v in structlog.contextvars.get_contextvars().items()},
    }


@get("/v1/admin/reports", operation_id="adminReports", guards=[requires_roles("ADMIN", "OWNER")])
async def admin_only(request: Request[TokenClaims, str, Any]) -> dict[str, str]:
    return {"token": request.auth[:10], "user": str(request.user.user_id)}


@get("/v1/status", operation_id="getStatus", opt={"public": True})
async def public_status() -> dict[str, str]:
    return {"status": "ok"}


@get("/v1/items/{item_id:uuid}", operation_id="getItem", opt={"public": True})
async def get_item(item_id: FromPath[UUID]) -> dict[str, str]:
    return {"id": str(item_id)}


class Checks:
    def __init__(self) -> None:
        self.database_up = True
        self.valkey_delay = 0.0

    async def database(self) -> None:
        if not self.database_up:
            raise ConnectionRefusedError("connect to 10.0.0.5:5432 refused")

    async def valkey(self) -> None:
        await asyncio.sleep(self.valkey_delay)


@pytest.fixture
def checks() -> Checks:
    return Checks()


@pytest.fixture
def log_stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
async def client(checks: Checks, log_stream: io.StringIO) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = create_service_app(
        service="probe",
        settings=SETTINGS,
        route_handlers=[me, admin_only, public_status, get_item],
        readiness_checks={"database": checks.database, "valkey": checks.valkey},
        key_set=StaticKeySet([KEY]),
        readiness_timeout=0.3,
        description="A probe service.",
    )
    handler = kernel_log_handler()
    assert handler is not None
    handler.setStream(log_stream)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


def _bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign_access_token(KEY, SETTINGS, **claims)}"}


def _log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


async def test_no_token_is_a_translated_401_problem(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["code"] == "unauthenticated"
    assert body["title"] == "Autenticação necessária"
    assert body["detail"] == "É necessário um token de acesso: envie Authorization: Bearer <token>."


async def test_a_bad_token_says_why_in_english_when_asked(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    headers = {**_bearer(aud="elsewhere"), "Accept-Language": "en"}
    response = await client.get("/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "The access token is not meant for this service."


async def test_a_valid_token_sets_user_tenant_log_context_and_locale(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    tenant = "0b5a4d1e-6d0c-4a8e-9b0c-8f1f5b9b7a11"
    response = await client.get(
        "/v1/me", headers={**_bearer(tid=tenant, locale="en"), "Accept-Language": "pt-BR"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["tenantInContext"] == tenant
    assert body["locale"] == "en"  # the profile's locale beats the browser's
    assert body["logContext"]["tenant_id"] == tenant
    assert body["logContext"]["user_id"] == body["userId"]
    assert response.headers["content-language"] == "en"
    assert current_tenant_id.get() is None  # nothing leaks past the request


async def test_guards_check_roles_and_superadmin_always_passes(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    member = await client.get("/v1/admin/reports", headers=_bearer(roles=["MEMBER"], locale="en"))
    assert member.status_code == 403
    assert member.json()["code"] == "forbidden"
    assert member.json()["detail"] == "This action requires one of these roles: ADMIN, OWNER."
    admin = await client.get("/v1/admin/reports", headers=_bearer(roles=["ADMIN"]))
    assert admin.status_code == 200
    assert admin.json()["token"] == _bearer()["Authorization"].removeprefix("Bearer ")[:10]
    superadmin = await client.get("/v1/admin/reports", headers=_bearer(roles=["SUPERADMIN"]))
    assert superadmin.status_code == 200


async def test_public_routes_and_ops_endpoints_need_no_token(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    for path in ("/v1/status", "/health/live", "/health/ready", "/metrics", "/schema/openapi.json"):
        response = await client.get(path)
        assert response.status_code == 200, path
    assert (await client.get("/health/live")).json() == {"status": "ok"}


async def test_readiness_reports_each_check(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    body = (await client.get("/health/ready")).json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "valkey"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


async def test_a_failing_check_makes_readiness_a_503_problem(
    client: AsyncTestClient,  # type: ignore[type-arg]
    checks: Checks,
) -> None:
    checks.database_up = False
    checks.valkey_delay = 1.0
    response = await client.get("/health/ready", headers={"Accept-Language": "en"})
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["code"] == "service-unavailable"
    assert body["detail"] == "Not ready: database, valkey failed."
    assert body["checks"]["database"] == {
        "status": "failed",
        "durationMs": body["checks"]["database"]["durationMs"],
        "error": "ConnectionRefusedError",
    }
    assert body["checks"]["valkey"]["error"] == "timeout"
    assert "10.0.0.5" not in response.text  # hosts stay in the log
    assert (await client.get("/health/live")).status_code == 200


async def test_metrics_count_requests_by_route_template(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    await client.get("/v1/items/6a0e7d3c-0f43-4d3c-9a43-3a1f2b5c6d7e")
    await client.get("/v1/items/1c9d2f4e-5b6a-4c7d-8e9f-0a1b2c3d4e5f")
    await client.get("/v1/me")
    await client.get("/no/such/path")
    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    item_route = 'method="GET",route="/v1/items/{item_id}",service="probe",status="200"'
    assert f"mrbill_http_requests_total{{{item_route}}} 2.0" in text
    assert 'mrbill_http_requests_total{method="GET",route="/v1/me",service="probe",status="401"} 1.0' in text
    assert 'route="<unmatched>",service="probe",status="404"} 1.0' in text
    assert 'mrbill_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/me"' in text
    assert "6a0e7d3c" not in text


async def test_request_ids_are_echoed_or_generated_and_logged(
    client: AsyncTestClient,  # type: ignore[type-arg]
    log_stream: io.StringIO,
) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    echoed = await client.get(
        "/v1/status", headers={"X-Request-ID": "edge-123", "traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    )
    assert echoed.headers["x-request-id"] == "edge-123"
    replaced = await client.get("/v1/status", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 200})
    assert len(replaced.headers["x-request-id"]) == 32
    requests = [line for line in _log_lines(log_stream) if line["event"] == "request"]
    assert requests[0] == {
        **requests[0],
        "service": "probe",
        "request_id": "edge-123",
        "trace_id": trace,
        "method": "GET",
        "path": "/v1/status",
        "route": "/v1/status",
        "status": 200,
        "level": "info",
    }
    assert isinstance(requests[0]["duration_ms"], float)
    assert requests[1]["request_id"] == replaced.headers["x-request-id"]
    assert len(requests[1]["trace_id"]) == 32


async def test_authenticated_request_lines_carry_tenant_and_user(
    client: AsyncTestClient,  # type: ignore[type-arg]
    log_stream: io.StringIO,
) -> None:
    tenant, user = "9d2b6c1a-2e8f-4b3a-8c7d-6e5f4a3b2c1d", "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b"
    await client.get("/v1/me", headers=_bearer(tid=tenant, sub=user))
    line = next(line for line in _log_lines(log_stream) if line["event"] == "request")
    assert (line["tenant_id"], line["user_id"], line["status"]) == (tenant, user, 200)


async def test_openapi_document_and_swagger_ui(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    document = (await client.get("/schema/openapi.json")).json()
    assert document["info"]["title"] == "Mr Bill probe API"
    assert document["info"]["description"] == "A probe service."
    assert document["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    assert document["security"] == [{"BearerToken": []}]
    assert document["paths"]["/health/ready"]["get"]["tags"] == ["ops"]
    assert document["paths"]["/v1/me"]["get"]["operationId"] == "getMe"
    swagger = await client.get("/schema/swagger")
    assert swagger.status_code == 200
    assert "SwaggerUIBundle" in swagger.text
