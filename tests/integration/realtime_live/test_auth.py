"""Opening a socket: a token that does not hold, or a dojo that is not the caller's, closes it with a
4xxx code and a JSON reason; one that holds is served, whether the token came as a query parameter
or a header."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from httpx_ws import WebSocketDisconnect

from api.common.settings import Settings
from tests.integration.realtime_live.support import (
    Instance,
    StandInDojo,
    StandInRoomAccess,
    TokenMint,
    close_reason,
    connect_socket,
    python_client,
    refused,
    running_instance,
)
from tests.unit.common.token_factory import new_signing_key, sign_access_token

pytestmark = [pytest.mark.integration, pytest.mark.security]


@pytest.fixture(scope="module")
def module_access() -> StandInRoomAccess:
    return StandInRoomAccess()


@pytest.fixture(scope="module")
async def instance(
    settings: Settings, mint: TokenMint, module_access: StandInRoomAccess
) -> AsyncIterator[Instance]:
    async with running_instance(settings, mint, module_access) as running:
        yield running


@pytest.fixture
def dojo(module_access: StandInRoomAccess) -> StandInDojo:
    return module_access.dojo(uuid.uuid4())


async def _refusal(url: str) -> tuple[int, dict[str, str]]:
    code, reason = await refused(url)
    return code, close_reason(reason)


async def test_a_member_with_a_good_token_is_served(
    instance: Instance, mint: TokenMint, dojo: StandInDojo
) -> None:
    ada = mint.caller(dojo.tenant_id)
    dojo.members[ada.user_id] = "PARTICIPANT"
    async with python_client(instance.url(dojo.dojo_id, ada.token)) as client:
        assert client.code == dojo.initial_code


async def test_the_authorization_header_works_too(
    instance: Instance, mint: TokenMint, dojo: StandInDojo
) -> None:
    ada = mint.caller(dojo.tenant_id)
    dojo.members[ada.user_id] = "PARTICIPANT"
    headers = {"Authorization": f"Bearer {ada.token}"}
    async with (
        httpx.AsyncClient(headers=headers) as http,
        connect_socket(instance.url(dojo.dojo_id), http) as socket,
    ):
        first = await socket.receive_bytes()
        assert first[:2] == b"\x00\x00"  # the server's sync step 1


async def test_without_a_token(instance: Instance, dojo: StandInDojo) -> None:
    code, reason = await _refusal(instance.url(dojo.dojo_id))
    assert code == 4401
    assert reason["code"] == "token-missing"


async def test_a_garbage_token(instance: Instance, dojo: StandInDojo) -> None:
    code, reason = await _refusal(instance.url(dojo.dojo_id, "not-a-token"))
    assert (code, reason["code"]) == (4401, "token-invalid")
    assert reason["message"] == "O token de acesso está malformado."  # no token locale, no Accept-Language


async def test_a_token_signed_by_an_unknown_key(
    instance: Instance, settings: Settings, dojo: StandInDojo
) -> None:
    token = sign_access_token(new_signing_key(), settings, tid=str(dojo.tenant_id))
    code, reason = await _refusal(instance.url(dojo.dojo_id, token))
    assert (code, reason["code"]) == (4401, "token-invalid")


async def test_an_expired_token(instance: Instance, mint: TokenMint, dojo: StandInDojo) -> None:
    long_ago = int(time.time()) - 3600
    ada = mint.caller(dojo.tenant_id, iat=long_ago, exp=long_ago + 900)
    dojo.members[ada.user_id] = "PARTICIPANT"
    code, reason = await _refusal(instance.url(dojo.dojo_id, ada.token))
    assert (code, reason["code"]) == (4401, "token-expired")


async def test_a_revoked_token(instance: Instance, mint: TokenMint, dojo: StandInDojo) -> None:
    ada = mint.caller(dojo.tenant_id)
    dojo.members[ada.user_id] = "PARTICIPANT"
    await instance.denylist.revoke(ada.jti, 900)
    code, reason = await _refusal(instance.url(dojo.dojo_id, ada.token))
    assert (code, reason["code"]) == (4401, "token-revoked")
    assert reason["message"] == "The access token has been revoked."


async def test_another_tenants_dojo_looks_missing(
    instance: Instance, mint: TokenMint, dojo: StandInDojo
) -> None:
    stranger = mint.caller(uuid.uuid4())
    dojo.members[stranger.user_id] = "PARTICIPANT"  # even listed, the tenant does not match
    code, reason = await _refusal(instance.url(dojo.dojo_id, stranger.token))
    assert (code, reason["code"]) == (4404, "dojo-not-found")
    unknown_code, _ = await _refusal(instance.url(uuid.uuid4(), stranger.token))
    assert unknown_code == 4404


async def test_not_a_member(instance: Instance, mint: TokenMint, dojo: StandInDojo) -> None:
    outsider = mint.caller(dojo.tenant_id)
    code, reason = await _refusal(instance.url(dojo.dojo_id, outsider.token))
    assert (code, reason["code"]) == (4403, "not-a-participant")


async def test_a_dojo_that_is_over(instance: Instance, mint: TokenMint, dojo: StandInDojo) -> None:
    ada = mint.caller(dojo.tenant_id)
    dojo.members[ada.user_id] = "PARTICIPANT"
    dojo.status = "COMPLETED"
    code, reason = await _refusal(instance.url(dojo.dojo_id, ada.token))
    assert (code, reason["code"]) == (4409, "dojo-not-running")


async def test_reasons_follow_the_token_locale_else_accept_language(
    instance: Instance, mint: TokenMint, dojo: StandInDojo
) -> None:
    ana = mint.caller(dojo.tenant_id, locale="pt_BR")
    dojo.members[ana.user_id] = "PARTICIPANT"
    await instance.denylist.revoke(ana.jti, 900)
    _, reason = await _refusal(instance.url(dojo.dojo_id, ana.token))
    assert reason["message"] == "O token de acesso foi revogado."

    headers = {"Accept-Language": "pt-BR"}
    async with (
        httpx.AsyncClient(headers=headers) as http,
        connect_socket(instance.url(dojo.dojo_id), http) as socket,
    ):
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.receive_bytes()
    assert closed.value.code == 4401
    assert close_reason(closed.value.reason)["message"].startswith("Envie o token de acesso")


async def test_plain_http_is_refused_cleanly(instance: Instance, dojo: StandInDojo) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{instance.port}/v1/dojos/{dojo.dojo_id}/code")
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
