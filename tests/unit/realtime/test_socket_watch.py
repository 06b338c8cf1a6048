"""`SocketWatch`: open sockets closed when their token expires or is revoked, or their person is no
longer admitted; checks batched per token and per person; what cannot be read closes nothing.

The denylist and the dojo records are in-memory stand-ins here (their real counterparts are
exercised through the sockets in tests/integration/realtime_live and realtime_session)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from api.common.auth import TokenClaims
from realtime.ports import AccessRefused, Admission, Role
from realtime.socket_watch import SocketWatch

pytestmark = pytest.mark.unit


def claims(
    *, user_id: uuid.UUID | None = None, tenant_id: uuid.UUID | None = None, lifetime: float = 900
) -> TokenClaims:
    now = datetime.now(UTC)
    return TokenClaims(
        user_id=user_id or uuid.uuid4(),
        tenant_id=tenant_id or uuid.uuid4(),
        roles=("MEMBER",),
        jti=uuid.uuid4().hex,
        expires_at=now + timedelta(seconds=lifetime),
        issued_at=now,
        locale="pt_BR",
    )


class StandInDenylist:
    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.asked: list[str] = []
        self.failing = False

    async def is_revoked(self, jti: str) -> bool:
        self.asked.append(jti)
        if self.failing:
            raise ConnectionError("valkey is away")
        return jti in self.revoked


class StandInAccess:
    def __init__(self) -> None:
        self.members: dict[uuid.UUID, Role] = {}
        self.asked: list[uuid.UUID] = []
        self.failing = False

    async def admit(self, token: TokenClaims, dojo_id: uuid.UUID) -> Admission:
        self.asked.append(token.user_id)
        if self.failing:
            raise OSError("the database is away")
        role = self.members.get(token.user_id)
        if role is None:
            raise AccessRefused(4403, "not-a-participant", "Join the dojo first.")
        return Admission(
            tenant_id=token.tenant_id,
            dojo_id=dojo_id,
            user_id=token.user_id,
            display_name="Ada",
            role=role,
            facilitator=False,
            status="ACTIVE",
            language="python",
            initial_code="",
        )


class Closed:
    """What a channel would do: remember the refusal."""

    def __init__(self) -> None:
        self.refusals: list[AccessRefused] = []
        self.admissions: list[Admission] = []
        self.at: float | None = None

    def __call__(self, refusal: AccessRefused) -> None:
        self.refusals.append(refusal)
        self.at = time.time()

    def readmitted(self, admission: Admission) -> None:
        self.admissions.append(admission)


@pytest.fixture
def denylist() -> StandInDenylist:
    return StandInDenylist()


@pytest.fixture
def access() -> StandInAccess:
    return StandInAccess()


@contextlib.asynccontextmanager
async def running(watch: SocketWatch) -> AsyncIterator[SocketWatch]:
    task = asyncio.create_task(watch.run())
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], object], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_a_token_is_closed_at_its_expiry_not_before(
    denylist: StandInDenylist, access: StandInAccess
) -> None:
    token = claims(lifetime=0.4)
    access.members[token.user_id] = "PARTICIPANT"
    closed = Closed()
    async with running(SocketWatch(admit=access.admit, denylist=denylist, recheck_seconds=60)) as watch:
        watch.watch(token, uuid.uuid4(), "pt_BR", closed)
        await until(lambda: closed.refusals)
    assert closed.at is not None
    assert closed.at >= token.expires_at.timestamp()
    assert [(refusal.code, refusal.reason) for refusal in closed.refusals] == [(4401, "token-expired")]
    assert closed.refusals[0].message == "O token de acesso expirou."
    assert len(watch) == 0


async def test_a_renewed_token_keeps_the_socket(denylist: StandInDenylist, access: StandInAccess) -> None:
    token = claims(lifetime=0.3)
    closed = Closed()
    async with running(SocketWatch(admit=access.admit, denylist=denylist, recheck_seconds=60)) as watch:
        socket = watch.watch(token, uuid.uuid4(), "en", closed)
        watch.renew(socket, claims(user_id=token.user_id, tenant_id=token.tenant_id, lifetime=900))
        await asyncio.sleep(0.6)
    assert closed.refusals == []


async def test_revoked_and_removed_are_closed_others_kept(
    denylist: StandInDenylist, access: StandInAccess
) -> None:
    dojo_id, tenant_id = uuid.uuid4(), uuid.uuid4()
    ada, bob, cid = (claims(tenant_id=tenant_id) for _ in range(3))
    for person in (ada, bob, cid):
        access.members[person.user_id] = "PARTICIPANT"
    sockets = {name: Closed() for name in ("ada", "bob", "cid")}
    watch = SocketWatch(admit=access.admit, denylist=denylist, recheck_seconds=0.1)
    for name, token in (("ada", ada), ("bob", bob), ("cid", cid)):
        watch.watch(token, dojo_id, "en", sockets[name], readmitted=sockets[name].readmitted)
    async with running(watch):
        denylist.revoked.add(ada.jti)
        del access.members[bob.user_id]
        await until(lambda: sockets["ada"].refusals and sockets["bob"].refusals)
        access.members[cid.user_id] = "OBSERVER"
        await until(lambda: any(admission.role == "OBSERVER" for admission in sockets["cid"].admissions))
    assert [(r.code, r.reason) for r in sockets["ada"].refusals] == [(4401, "token-revoked")]
    assert [(r.code, r.reason) for r in sockets["bob"].refusals] == [(4403, "not-a-participant")]
    assert sockets["cid"].refusals == []
    assert len(watch) == 1


async def test_one_lookup_per_token_and_one_admission_per_person(
    denylist: StandInDenylist, access: StandInAccess
) -> None:
    dojo_id = uuid.uuid4()
    token = claims()
    access.members[token.user_id] = "PARTICIPANT"
    watch = SocketWatch(admit=access.admit, denylist=denylist)
    for _ in range(5):  # one person, five tabs
        watch.watch(token, dojo_id, "en", Closed())
    await watch.check()
    assert denylist.asked == [token.jti]
    assert access.asked == [token.user_id]


async def test_what_cannot_be_read_closes_nothing(denylist: StandInDenylist, access: StandInAccess) -> None:
    token = claims()
    access.members[token.user_id] = "PARTICIPANT"
    closed = Closed()
    watch = SocketWatch(admit=access.admit, denylist=denylist)
    watch.watch(token, uuid.uuid4(), "en", closed)
    denylist.failing = access.failing = True
    await watch.check()
    assert closed.refusals == []
    denylist.failing = False
    denylist.revoked.add(token.jti)
    await watch.check()
    assert [refusal.reason for refusal in closed.refusals] == ["token-revoked"]


async def test_a_forgotten_socket_is_never_closed(denylist: StandInDenylist, access: StandInAccess) -> None:
    token = claims()
    closed = Closed()
    watch = SocketWatch(admit=access.admit, denylist=denylist)
    socket = watch.watch(token, uuid.uuid4(), "en", closed)
    watch.forget(socket)
    denylist.revoked.add(token.jti)
    await watch.check()
    assert closed.refusals == []
    assert access.asked == []


async def test_one_dojo_is_checked_at_once_and_only_its_sockets(
    denylist: StandInDenylist, access: StandInAccess
) -> None:
    changed, untouched = uuid.uuid4(), uuid.uuid4()
    ada, bob = claims(), claims()
    access.members = {ada.user_id: "OBSERVER"}  # Ada demoted; Bob removed everywhere
    in_changed, bob_in_changed, bob_elsewhere = Closed(), Closed(), Closed()
    watch = SocketWatch(admit=access.admit, denylist=denylist, recheck_seconds=300)
    watch.watch(ada, changed, "en", in_changed, readmitted=in_changed.readmitted)
    watch.watch(ada, changed, "en", in_changed, readmitted=in_changed.readmitted)  # a second tab
    watch.watch(bob, changed, "pt_BR", bob_in_changed)
    watch.watch(bob, untouched, "en", bob_elsewhere)
    await watch.check_dojo(changed)
    assert sorted(map(str, access.asked)) == sorted([str(ada.user_id), str(bob.user_id)]), (
        "one admission per person of that dojo, none for other dojos"
    )
    assert [admission.role for admission in in_changed.admissions] == ["OBSERVER", "OBSERVER"]
    assert [(r.code, r.reason) for r in bob_in_changed.refusals] == [(4403, "not-a-participant")]
    assert bob_elsewhere.refusals == []
    assert denylist.asked == [], "a change of who is in a dojo needs no denylist lookup"
    assert (watch.checks, watch.dojo_checks) == (0, 1)
    assert len(watch) == 3


async def test_a_recheck_asked_from_outside_runs_in_the_watch_task(
    denylist: StandInDenylist, access: StandInAccess
) -> None:
    dojo_id = uuid.uuid4()
    token = claims()
    access.members[token.user_id] = "PARTICIPANT"
    closed = Closed()
    async with running(SocketWatch(admit=access.admit, denylist=denylist, recheck_seconds=300)) as watch:
        watch.watch(token, dojo_id, "en", closed)
        watch.recheck_soon(uuid.uuid4())  # a dojo with no socket here: nothing to do
        await asyncio.sleep(0.05)
        assert (watch.dojo_checks, access.asked) == (0, [])
        del access.members[token.user_id]
        watch.recheck_soon(dojo_id)
        await until(lambda: closed.refusals, within=1.0)
    assert [refusal.reason for refusal in closed.refusals] == ["not-a-participant"]
    assert watch.checks == 0, "the sweep (every 300 s) did not run: the recheck did it"
