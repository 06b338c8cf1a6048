"""RFC 9457 rendering: every failure a client can cause is a translated problem+json, never a 500."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import msgspec
import pytest
from litestar import get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.testing import AsyncTestClient

from api.common.app import create_service_app
from api.common.errors import (
    PROBLEM_MEDIA_TYPE,
    ConflictError,
    LockedError,
    NotFoundError,
    PermissionDeniedError,
    ProblemError,
    RateLimitedError,
    ValidationProblem,
    as_problem,
)
from api.common.i18n import N_
from api.common.logging import kernel_log_handler
from api.common.schemas import CamelStruct
from api.common.settings import Settings

pytestmark = pytest.mark.unit


class NewThing(CamelStruct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=3)]
    full_name: str
    tags: list[Annotated[str, msgspec.Meta(max_length=5)]] = msgspec.field(default_factory=list)


@post("/v1/things", operation_id="createThing", sync_to_thread=False)
def create_thing(data: JSONBody[NewThing]) -> NewThing:
    return data


@get("/v1/things/{thing_id:uuid}", operation_id="getThing", sync_to_thread=False)
def get_thing(thing_id: FromPath[UUID]) -> None:
    raise NotFoundError(N_("This action requires one of these roles: {roles}."), roles=str(thing_id))


@get("/v1/conflicts", operation_id="conflict", sync_to_thread=False)
def conflict() -> None:
    raise ConflictError(extra={"conflictingField": "slug"})


@get("/v1/forbidden", operation_id="forbidden", sync_to_thread=False)
def forbidden() -> None:
    raise PermissionDeniedError(N_("This action requires one of these roles: {roles}."), roles="OWNER")


@get("/v1/locked", operation_id="locked", sync_to_thread=False)
def locked() -> None:
    raise LockedError(retry_after=30)


@get("/v1/crash", operation_id="crash", sync_to_thread=False)
def crash() -> None:
    raise RuntimeError("password=hunter2 at db.internal:5432")


@get("/v1/invalid", operation_id="invalid", sync_to_thread=False)
def invalid() -> None:
    raise ValidationProblem(errors=[{"field": "email", "message": N_("This field is required.")}])


@get("/v1/counts", operation_id="counts", sync_to_thread=False)
def counts(limit: FromQuery[int]) -> int:
    return limit


@pytest.fixture
def log_stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
async def client(log_stream: io.StringIO) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = Settings(log_json=True, log_level="INFO")
    app = create_service_app(
        service="probe",
        settings=settings,
        route_handlers=[create_thing, get_thing, conflict, forbidden, locked, crash, invalid, counts],
    )
    handler = kernel_log_handler()
    assert handler is not None
    handler.setStream(log_stream)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


def _log_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


async def test_unknown_path_is_a_404_problem(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/v1/nowhere", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == "https://mrbill.dev/problems/not-found"
    assert body["title"] == "Resource not found"
    assert body["status"] == 404
    assert body["instance"] == "/v1/nowhere"
    assert body["code"] == "not-found"
    assert body["requestId"] == response.headers["x-request-id"]


async def test_titles_and_details_follow_accept_language(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    english = (await client.get("/v1/forbidden", headers={"Accept-Language": "en-US,en;q=0.9"})).json()
    portuguese = (await client.get("/v1/forbidden", headers={"Accept-Language": "pt-BR,pt;q=0.9"})).json()
    assert english["title"] == "Permission denied"
    assert english["detail"] == "This action requires one of these roles: OWNER."
    assert portuguese["title"] == "Permissão negada"
    assert portuguese["detail"] == "Esta ação exige um destes papéis: OWNER."


async def test_default_locale_is_portuguese_and_announced(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/v1/conflicts")
    assert response.status_code == 409
    assert response.json()["title"] == "Conflito"
    assert response.json()["conflictingField"] == "slug"
    assert response.headers["content-language"] == "pt-BR"


async def test_invalid_body_lists_the_failing_field(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/v1/things", json={"name": "ab", "fullName": "X"}, headers={"Accept-Language": "pt"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation-failed"
    assert body["errors"] == [{"field": "name", "message": "Deve ter pelo menos 3 caracteres."}]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"name": "abc"}, "fullName", "This field is required."),
        ({"name": "abc", "fullName": 7}, "fullName", "Expected a value of type str, got int."),
        ({"name": "abc", "fullName": "X", "admin": True}, "admin", "This field is not allowed."),
        (
            {"name": "abc", "fullName": "X", "tags": ["ok", "toolong"]},
            "tags[1]",
            "Must have at most 5 characters.",
        ),
    ],
)
async def test_each_kind_of_body_error_names_its_field(
    client: AsyncTestClient,  # type: ignore[type-arg]
    payload: dict[str, object],
    field: str,
    message: str,
) -> None:
    response = await client.post("/v1/things", json=payload, headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": field, "message": message}]


async def test_malformed_json_is_a_400(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/v1/things",
        content=b'{"name": ',
        headers={"content-type": "application/json", "Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["detail"].startswith("The request body could not be decoded")


async def test_bad_query_and_path_parameters_are_400s(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    wrong_type = await client.get("/v1/counts", params={"limit": "many"}, headers={"Accept-Language": "en"})
    missing = await client.get("/v1/counts", headers={"Accept-Language": "en"})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["errors"] == [
        {"field": "limit", "message": "Expected a value of type int, got str."}
    ]
    assert missing.status_code == 400
    assert missing.json()["errors"] == [{"field": "limit", "message": "This parameter is required."}]
    not_a_uuid = await client.get("/v1/things/not-a-uuid")
    assert not_a_uuid.status_code == 404  # the route template only matches UUIDs


async def test_wrong_method_is_a_405_with_allow(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.delete("/v1/things")
    assert response.status_code == 405
    assert response.json()["code"] == "method-not-allowed"
    assert "POST" in response.headers["allow"]


async def test_retry_after_is_a_header_and_a_plural_detail(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/v1/locked", headers={"Accept-Language": "pt-BR"})
    assert response.status_code == 423
    assert response.headers["retry-after"] == "30"
    body = response.json()
    assert body["retryAfter"] == 30
    assert body["detail"] == "Tente novamente em 30 segundos."
    assert body["title"] == "Bloqueado temporariamente"


async def test_crash_is_500_without_internals_and_logged_with_traceback(
    client: AsyncTestClient,  # type: ignore[type-arg]
    log_stream: io.StringIO,
) -> None:
    response = await client.get("/v1/crash", headers={"Accept-Language": "en", "X-Request-ID": "req-crash-1"})
    assert response.status_code == 500
    assert "hunter2" not in response.text
    assert response.json()["title"] == "Internal server error"
    assert response.json()["requestId"] == "req-crash-1"
    crashes = [line for line in _log_lines(log_stream) if line["event"] == "request crashed"]
    assert len(crashes) == 1
    assert crashes[0]["level"] == "error"
    assert crashes[0]["request_id"] == "req-crash-1"
    assert "hunter2" in json.dumps(crashes[0]["exception"])


async def test_client_errors_are_logged_at_info_not_as_crashes(
    client: AsyncTestClient,  # type: ignore[type-arg]
    log_stream: io.StringIO,
) -> None:
    await client.get("/v1/invalid")
    await client.get("/v1/nowhere")
    lines = _log_lines(log_stream)
    assert not [line for line in lines if line["level"] == "error"]
    rejected = [line for line in lines if line["event"] == "request rejected"]
    assert [line["status"] for line in rejected] == [422, 404]
    assert rejected[0]["errors"] == [{"field": "email", "message": "This field is required."}]


def test_problem_body_members_and_extensions() -> None:
    problem = RateLimitedError(N_("Not ready: {checks} failed."), retry_after=5, checks="db", extra={"x": 1})
    body = problem.to_problem("en", instance="/v1/auth/login")
    assert body == {
        "type": "https://mrbill.dev/problems/rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "Not ready: db failed.",
        "instance": "/v1/auth/login",
        "code": "rate-limited",
        "retryAfter": 5,
        "x": 1,
    }
    assert problem.headers == {"Retry-After": "5"}
    assert str(problem) == "Not ready: db failed."


def test_unknown_exceptions_become_the_generic_500() -> None:
    problem = as_problem(KeyError("secret"))
    assert type(problem) is ProblemError
    assert problem.status == 500
    assert problem.to_problem("pt_BR")["title"] == "Erro interno do servidor"
