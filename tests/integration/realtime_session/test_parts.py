"""The channel's pieces without sockets or services: the randori's transitions, a slow client's
outbox, the close reason's size, a snapshot's storage key."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from litestar import WebSocket

from api.common.auth import TokenClaims
from realtime.dojos.snapshots import snapshot_key
from realtime.ports import Admission
from realtime.session import SessionConfig
from realtime.session.asyncapi import asyncapi_document
from realtime.session.channel import Connection, TokenBucket, close_reason
from realtime.session.randori import RandoriError, RandoriSettings, RandoriState

pytestmark = pytest.mark.unit

ANA, BIA, CAIO = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
RHYTHM = RandoriSettings(turn_seconds=60, break_every=2, break_seconds=120)


def running(now: float = 1000.0) -> RandoriState:
    state = RandoriState.fresh(RHYTHM)
    for person in (ANA, BIA, CAIO):
        state.add(person)
    state.start(now, None, {ANA, BIA, CAIO})
    return state


def test_turns_rotate_in_order_with_a_break_every_k_turns() -> None:
    state = running()
    assert (state.driver_id, state.next_driver_id({ANA, BIA, CAIO}), state.deadline) == (ANA, BIA, 1060.0)
    assert state.end_phase(1060.5, {ANA, BIA, CAIO}) == "rotated"
    assert (state.driver_id, state.deadline) == (BIA, 1120.0), "a turn noticed late still starts on time"
    assert state.end_phase(1120.0, {ANA, BIA, CAIO}) == "break"
    assert (state.phase, state.driver_id, state.deadline, state.next_driver_id(None)) == (
        "BREAK",
        None,
        1240.0,
        CAIO,
    )
    assert state.end_phase(1240.0, {ANA, BIA, CAIO}) == "rotated"
    assert (state.phase, state.driver_id, state.deadline) == ("TURN", CAIO, 1300.0)
    assert state.end_phase(5000.0, {ANA, BIA, CAIO}) == "rotated"
    assert (state.driver_id, state.deadline) == (ANA, 5060.0), "after a long gap the turn starts now"


def test_absent_people_are_passed_over_unless_nobody_is_here() -> None:
    state = running()
    state.end_phase(1060.0, {ANA, CAIO})
    assert state.driver_id == CAIO
    state.end_phase(1120.0, set())
    assert state.phase == "BREAK"
    state.end_phase(1240.0, set())
    assert state.driver_id == ANA


def test_pause_keeps_the_remaining_time_and_skip_while_paused_stays_paused() -> None:
    state = running()
    state.pause(1020.0)
    assert (state.status, state.remaining_at(9999.0), state.deadline) == ("PAUSED", 40.0, None)
    state.end_phase(1030.0, None)
    assert (state.status, state.driver_id, state.remaining) == ("PAUSED", BIA, 60.0)
    state.resume(1100.0)
    assert (state.status, state.deadline) == ("RUNNING", 1160.0)
    with pytest.raises(RandoriError, match="randori-not-paused"):
        state.resume(1100.0)


def test_commands_that_do_not_apply_are_refused() -> None:
    idle = RandoriState.fresh(RHYTHM)
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: idle.start(0.0, None, set()), "randori-no-participants"),
        (lambda: idle.pause(0.0), "randori-not-running"),
        (lambda: idle.stop(), "randori-not-running"),
        (lambda: running().start(0.0, None, set()), "randori-already-started"),
        (lambda: running().reorder([ANA, ANA], {ANA}), "randori-invalid-order"),
        (lambda: running().reorder([uuid.uuid4()], {ANA}), "randori-invalid-order"),
        (lambda: running().reorder([], {ANA}), "randori-no-participants"),
    ]
    for command, code in cases:
        with pytest.raises(RandoriError) as refusal:
            command()
        assert refusal.value.code == code


def test_a_reorder_keeps_the_driver() -> None:
    state = running()
    state.end_phase(1060.0, None)
    state.reorder([CAIO, BIA, ANA], {ANA, BIA, CAIO})
    assert (state.order, state.driver_id, state.next_driver_id(None)) == ([CAIO, BIA, ANA], BIA, ANA)


def test_the_view_gives_one_absolute_deadline_and_the_time_left() -> None:
    view = running(now=1_800_000_000.0).view(1_800_000_012.5, None)
    assert view.deadline == datetime.fromtimestamp(1_800_000_060.0, UTC)
    assert view.server_time == view.deadline - timedelta(seconds=47.5)
    assert view.remaining_seconds == 47.5


class StandInSocket:
    """Stands in for a WebSocket that is never written to (the outbox alone is under test)."""


def connection(outbox_size: int) -> Connection:
    claims = TokenClaims(
        user_id=ANA,
        tenant_id=uuid.uuid4(),
        roles=("MEMBER",),
        jti="j",
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
        issued_at=datetime.now(UTC),
    )
    admission = Admission(
        tenant_id=claims.tenant_id,
        dojo_id=uuid.uuid4(),
        user_id=ANA,
        display_name="Ana",
        role="PARTICIPANT",
        facilitator=True,
        status="ACTIVE",
        language="python",
        initial_code="",
    )
    config = SessionConfig(outbox_size=outbox_size)
    return Connection(cast("WebSocket[Any, Any, Any]", StandInSocket()), admission, claims, "en", config)


def test_a_client_whose_outbox_fills_is_dropped_not_waited_for() -> None:
    client = connection(outbox_size=2)
    client.ready = True
    client.push("one")
    client.push("two")
    assert not client.stopped.is_set()
    client.push("three")
    assert client.stopped.is_set()
    request = client.close_request
    assert request is not None
    assert (request.code, request.reason, request.notify) == (1013, "slow-consumer", False)
    assert "keep up" in request.message
    client.push("four")
    assert client.outbox.qsize() == 2


def test_frames_before_the_welcome_wait_in_order() -> None:
    client = connection(outbox_size=8)
    client.push("early")
    assert client.early == ["early"]
    assert client.outbox.empty()


def test_close_reasons_fit_a_close_frame() -> None:
    assert close_reason("token-expired") == '{"reason":"token-expired"}'
    assert close_reason("x" * 200) == '{"reason":"closed"}'


def test_the_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=2, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] = 0.5
    assert [bucket.take(), bucket.take()] == [True, False]


def test_the_asyncapi_document_lists_every_frame_with_its_schema() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    assert document["channels"]["session"]["address"] == "/v1/dojos/{dojoId}/session"
    components = document["components"]
    sent = {
        components["messages"][ref["$ref"].rsplit("/", 1)[1]]["name"]
        for ref in document["operations"]["sendToSession"]["messages"]
    }
    received = {
        components["messages"][ref["$ref"].rsplit("/", 1)[1]]["name"]
        for ref in document["operations"]["receiveFromSession"]["messages"]
    }
    assert sent == {
        "chat.send",
        "run.request",
        "randori.start",
        "randori.pause",
        "randori.resume",
        "randori.skip",
        "randori.reorder",
        "randori.stop",
        "token.refresh",
        "ping",
    }
    assert {
        "welcome",
        "presence",
        "chat.message",
        "randori.state",
        "randori.tick",
        "run.started",
        "run.result",
        "error",
        "pong",
        "token.refreshed",
        "session.ended",
        "refused",
    } == received
    for message in components["messages"].values():
        schema = components["schemas"][message["payload"]["$ref"].rsplit("/", 1)[1]]
        assert schema["properties"]["type"] == {"enum": [message["name"]]}
    assert "runId" in components["schemas"]["RunRequest"]["properties"]


def test_a_snapshots_storage_key_is_the_seeds_layout_in_utc() -> None:
    tenant_id, dojo_id = uuid.uuid4(), uuid.uuid4()
    in_sao_paulo = datetime(2026, 12, 1, 16, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-3)))
    key = snapshot_key(tenant_id, dojo_id, in_sao_paulo)
    assert key == f"dojos/{tenant_id}/{dojo_id}/snapshots/20261201T190000123456Z.json"
    later = snapshot_key(tenant_id, dojo_id, datetime(2026, 12, 1, 19, 0, 1, tzinfo=UTC))
    assert later.endswith("/20261201T190001000000Z.json")
    assert key < later, "keys sort in time order"
