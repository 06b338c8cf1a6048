"""`DojoRoomAccess` against the real database: who may open a dojo's room, and how.

The claims are what a verified token says; admission runs in the token's tenant under
row-level security, as the application role, exactly as the live rooms will call it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.common.auth import TokenClaims, ValkeyDenylist
from api.common.settings import Settings
from api.common.valkey import create_valkey
from realtime.dojos import repository
from realtime.dojos.access import DojoRoomAccess
from realtime.ports import AccessRefused, Admission
from realtime.socket_auth import SocketAuthenticator
from tests.integration.realtime.dojos_support import (
    Caller,
    DojoClient,
    TokenMint,
    create_dojo,
    join,
    start_dojo,
)
from tests.unit.common.token_factory import sign_access_token

pytestmark = pytest.mark.integration


def claims_of(caller: Caller, locale: str | None = None) -> TokenClaims:
    now = datetime.now(UTC)
    return TokenClaims(
        user_id=caller.user_id,
        tenant_id=caller.tenant_id,
        roles=caller.roles,
        jti=caller.jti,
        expires_at=now + timedelta(minutes=15),
        issued_at=now,
        locale=locale,
    )


async def _refusal(
    access: DojoRoomAccess, caller: Caller, dojo_id: uuid.UUID, locale: str = "en"
) -> AccessRefused:
    with pytest.raises(AccessRefused) as refused:
        await access.admit(claims_of(caller, locale), dojo_id)
    return refused.value


async def test_people_in_a_running_dojo_are_admitted_with_their_role(
    client: DojoClient, mint: TokenMint
) -> None:
    maria = mint.caller()
    dojo = await create_dojo(
        client, maria, isPrivate=False, initialCode="print('oi')", language="js", displayName="Maria"
    )
    dojo_id = uuid.UUID(dojo["dojoId"])
    observer = mint.caller(maria.tenant_id)
    await join(client, observer, dojo["dojoId"], "OBSERVER", displayName="Olga")
    await start_dojo(client, maria, dojo["dojoId"])
    access = client.runtime.room_access

    facilitator = await access.admit(claims_of(maria, "pt-BR"), dojo_id)
    assert facilitator == Admission(
        tenant_id=maria.tenant_id,
        dojo_id=dojo_id,
        user_id=maria.user_id,
        display_name="Maria",
        role="PARTICIPANT",
        facilitator=True,
        status="ACTIVE",
        language="javascript",
        initial_code="print('oi')",
        locale="pt_BR",
    )
    assert not facilitator.read_only
    watcher = await access.admit(claims_of(observer), dojo_id)
    assert (watcher.role, watcher.facilitator, watcher.display_name) == ("OBSERVER", False, "Olga")
    assert watcher.read_only


async def test_refusals_carry_the_documented_codes_and_a_message_in_the_persons_language(
    client: DojoClient, mint: TokenMint
) -> None:
    maria = mint.caller()
    access = client.runtime.room_access
    private = await create_dojo(client, maria)
    private_id = uuid.UUID(private["dojoId"])
    public = await create_dojo(client, maria, isPrivate=False)
    public_id = uuid.UUID(public["dojoId"])

    scheduled = await _refusal(access, maria, public_id)
    assert (scheduled.code, scheduled.reason, scheduled.message) == (
        4409,
        "dojo-not-started",
        "The dojo has not started yet.",
    )
    pt = await _refusal(access, maria, public_id, "pt-BR")
    assert pt.message == "O dojo ainda não começou."

    await start_dojo(client, maria, private["dojoId"])
    await start_dojo(client, maria, public["dojoId"])
    colleague = mint.caller(maria.tenant_id)
    hidden = await _refusal(access, colleague, private_id)
    assert (hidden.code, hidden.reason) == (4404, "dojo-not-found"), (
        "a private dojo one never joined does not exist"
    )
    outsider = await _refusal(access, colleague, public_id)
    assert (outsider.code, outsider.reason) == (4403, "not-a-participant")
    assert outsider.message == "Join the dojo first, then open its room."
    missing = await _refusal(access, maria, uuid.uuid4())
    assert (missing.code, missing.reason) == (4404, "dojo-not-found")

    await join(client, colleague, public["dojoId"])
    await client.post(f"/v1/dojos/{public_id}/leave", headers=colleague.headers)
    gone = await _refusal(access, colleague, public_id)
    assert gone.code == 4403, "one who left must join again"

    await client.post(f"/v1/dojos/{public_id}/end", headers=maria.headers)
    ended = await _refusal(access, maria, public_id)
    assert (ended.code, ended.reason, ended.message) == (4409, "dojo-finished", "The dojo has ended.")
    await client.post(f"/v1/dojos/{private_id}/cancel", headers=maria.headers)
    cancelled = await _refusal(access, maria, private_id, "pt-BR")
    assert (cancelled.code, cancelled.reason, cancelled.message) == (
        4409,
        "dojo-finished",
        "O dojo foi cancelado.",
    )


async def test_another_tenants_dojo_is_refused_as_missing(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria, isPrivate=False)
    await start_dojo(client, maria, dojo["dojoId"])
    intruder = mint.caller()
    # Same user id in another tenant: the tenant of the token decides, not the user id.
    twin = Caller(user_id=maria.user_id, tenant_id=intruder.tenant_id, roles=("OWNER",), token="", jti="j")
    for caller in (intruder, twin):
        refused = await _refusal(client.runtime.room_access, caller, uuid.UUID(dojo["dojoId"]))
        assert (refused.code, refused.reason) == (4404, "dojo-not-found")


async def test_touch_records_activity(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria)
    dojo_id = uuid.UUID(dojo["dojoId"])
    await start_dojo(client, maria, dojo["dojoId"])
    access = client.runtime.room_access
    admission = await access.admit(claims_of(maria), dojo_id)
    assert dojo["participants"][0]["lastActiveTime"] is None
    await access.touch(admission)
    async with client.runtime.work(maria.tenant_id) as work:
        row = await repository.fetch_participant(work.connection, dojo_id, maria.user_id)
    assert row is not None
    assert row.last_active_time is not None
    assert abs((datetime.now(UTC) - row.last_active_time).total_seconds()) < 60
    shown = (await client.get(f"/v1/dojos/{dojo_id}", headers=maria.headers)).json()
    assert shown["participants"][0]["lastActiveTime"] is not None
    assert shown["version"] == dojo["version"] + 1, (
        "activity is not a change of the dojo (only the start was)"
    )


async def test_socket_tokens_are_checked_like_bearer_tokens(
    client: DojoClient, mint: TokenMint, settings: Settings
) -> None:
    runtime = client.runtime
    sockets = SocketAuthenticator(settings, runtime.key_set, runtime.denylist)
    caller = mint.caller()
    claims = await sockets.claims(caller.token, "en")
    assert (claims.user_id, claims.tenant_id) == (caller.user_id, caller.tenant_id)

    with pytest.raises(AccessRefused) as missing:
        await sockets.claims(None, "en")
    assert (missing.value.code, missing.value.reason) == (4401, "token-missing")
    with pytest.raises(AccessRefused) as forged:
        await sockets.claims(TokenMint(settings).caller().token, "en")
    assert (forged.value.code, forged.value.reason) == (4401, "token-invalid")
    expired_token = sign_access_token(mint.key, settings, iat=1_000_000, exp=1_000_900)
    with pytest.raises(AccessRefused) as expired:
        await sockets.claims(expired_token, "en")
    assert (expired.value.code, expired.value.reason) == (4401, "token-expired")

    valkey = create_valkey(settings)
    try:
        await ValkeyDenylist(valkey).revoke(caller.jti, ttl=60)
    finally:
        await valkey.aclose()
    with pytest.raises(AccessRefused) as revoked:
        await sockets.claims(caller.token, "en")
    assert (revoked.value.code, revoked.value.reason) == (4401, "token-revoked")
