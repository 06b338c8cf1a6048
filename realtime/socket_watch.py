"""Open dojo sockets stay authorised: expiry, revocation and membership are checked while they live.

`SocketAuthenticator` checks a token once, when a socket opens; a socket may then stay open for
hours. Both socket parts (the live code rooms and the session channel) register each admitted
socket here, and one task per part closes it, with the same `AccessRefused` codes and reasons as
at open, when:

- its token expires (at ``exp`` plus the leeway the opening check allows): 4401 ``token-expired``;
- its token's ``jti`` is on the denylist (logout, a revoked session, a disabled user or tenant:
  identity denylists every live token of those): 4401 ``token-revoked``;
- the dojo records no longer admit the person (they left or were removed, the dojo ended):
  whatever `RoomAccess.admit` answers, 4403 ``not-a-participant``, 4404 or 4409.

A change of the dojo records (a person removed, made observer or participant, or gone) need not
wait for the next sweep: `check_dojo` asks again at once for one dojo's sockets (the REST side
calls it after its change commits, through `realtime.ports.LiveRooms.recheck`), and
`recheck_soon` asks the running task to, for a change announced by another instance.

The checks are batched, so a busy instance costs little: every ``recheck_seconds`` one denylist
lookup per distinct token (`api.common.auth.ValkeyDenylist` sends them together as ``MGET``) and
one admission per person and dojo, whatever the number of their sockets, a few at a time. Expiry
needs no lookup: the task wakes at the next ``exp``. Closing is the channel's business: the watch
calls the socket's ``close`` once and forgets it.

What cannot be read is not a verdict: a denylist or database that does not answer leaves the open
sockets alone until the next check (new sockets are refused meanwhile, 1013, by the opening check),
so a blip of Valkey or PostgreSQL does not disconnect a whole instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

import structlog

from api.common.auth import AccessDenylist, TokenClaims
from realtime.ports import AccessRefused, Admission
from realtime.socket_auth import token_expired, token_revoked

logger = structlog.get_logger(__name__)

DEFAULT_RECHECK_SECONDS = 30.0
ADMISSIONS_AT_ONCE = 4
"""Admissions asked concurrently by one sweep: the database pool serves the REST routes too."""

Admit = Callable[[TokenClaims, UUID], Awaitable[Admission]]
Close = Callable[[AccessRefused], None]
Readmitted = Callable[[Admission], None]


@dataclass(eq=False)
class WatchedSocket:
    """One open socket as the watch sees it; `SocketWatch.watch` gives it, `forget` ends it."""

    claims: TokenClaims
    dojo_id: UUID
    locale: str
    close: Close
    """Asked once, when the socket must go: the channel closes it with the refusal's code."""
    readmitted: Readmitted | None = None
    """Told the fresh admission after each successful check (a role may have changed)."""
    done: bool = False

    @property
    def person(self) -> tuple[UUID, UUID, UUID]:
        return (self.claims.tenant_id, self.dojo_id, self.claims.user_id)


class SocketWatch:
    """The open sockets of one socket part, and the task that keeps them authorised (`run`)."""

    def __init__(
        self,
        *,
        admit: Admit,
        denylist: AccessDenylist | None,
        recheck_seconds: float = DEFAULT_RECHECK_SECONDS,
        token_leeway_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._admit = admit
        self._denylist = denylist
        self.recheck_seconds = max(0.05, recheck_seconds)
        self.token_leeway_seconds = token_leeway_seconds
        self._clock = clock
        self._sockets: set[WatchedSocket] = set()
        self._changed = asyncio.Event()
        self._due: set[UUID] = set()
        self.checks = 0
        """Sweeps with a denylist and admission check done (for tests and metrics)."""
        self.dojo_checks = 0
        """Checks of one dojo's sockets done (`check_dojo`), for tests and metrics."""

    def __len__(self) -> int:
        return len(self._sockets)

    def watch(
        self,
        claims: TokenClaims,
        dojo_id: UUID,
        locale: str,
        close: Close,
        readmitted: Readmitted | None = None,
    ) -> WatchedSocket:
        socket = WatchedSocket(claims, dojo_id, locale, close, readmitted)
        self._sockets.add(socket)
        self._changed.set()  # its expiry may come before the task's next wake-up
        return socket

    def renew(self, socket: WatchedSocket, claims: TokenClaims) -> None:
        """The client sent a fresh token for the same person: its expiry and ``jti`` count from now."""
        socket.claims = claims
        self._changed.set()

    def forget(self, socket: WatchedSocket) -> None:
        socket.done = True
        self._sockets.discard(socket)

    def _deadline(self, socket: WatchedSocket) -> float:
        return socket.claims.expires_at.timestamp() + self.token_leeway_seconds

    # -- the task -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: expiries as they come, the denylist and admissions every `recheck_seconds`."""
        next_check = self._clock() + self.recheck_seconds
        while True:
            self._changed.clear()
            self.expire()
            due, self._due = self._due, set()
            for dojo_id in due:
                try:
                    await self.check_dojo(dojo_id)
                except Exception:
                    logger.exception("checking a dojo's open sockets failed", dojo_id=str(dojo_id))
            if self._clock() >= next_check:
                try:
                    await self.check()
                except Exception:  # one failed sweep must not end the watch
                    logger.exception("checking open dojo sockets failed")
                next_check = self._clock() + self.recheck_seconds
            wake_at = min([next_check, *(self._deadline(socket) for socket in self._sockets)])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.0, wake_at - self._clock()))

    def expire(self) -> None:
        """Close every socket whose token has expired (no lookup needed)."""
        now = self._clock()
        for socket in list(self._sockets):
            if self._deadline(socket) <= now:
                self._refuse(socket, token_expired(socket.locale))

    def recheck_soon(self, dojo_id: UUID) -> None:
        """Have the running task check `dojo_id`'s sockets now (from code that cannot wait)."""
        if any(socket.dojo_id == dojo_id for socket in self._sockets):
            self._due.add(dojo_id)
            self._changed.set()

    async def check_dojo(self, dojo_id: UUID) -> None:
        """One admission per person with a socket of `dojo_id`: the dojo records changed who is in it."""
        people: dict[tuple[UUID, UUID, UUID], list[WatchedSocket]] = {}
        for socket in self._sockets:
            if socket.dojo_id == dojo_id:
                people.setdefault(socket.person, []).append(socket)
        if not people:
            return
        await self._readmit_all(people)
        self.dojo_checks += 1

    async def check(self) -> None:
        """One sweep: the denylist for every distinct token, then one admission per person and dojo."""
        self.checks += 1
        await self._check_denylist()
        people: dict[tuple[UUID, UUID, UUID], list[WatchedSocket]] = {}
        for socket in self._sockets:
            people.setdefault(socket.person, []).append(socket)
        if people:
            await self._readmit_all(people)

    async def _readmit_all(self, people: dict[tuple[UUID, UUID, UUID], list[WatchedSocket]]) -> None:
        gate = asyncio.Semaphore(ADMISSIONS_AT_ONCE)

        async def readmit(sockets: list[WatchedSocket]) -> None:
            async with gate:
                await self._readmit(sockets)

        await asyncio.gather(*(readmit(sockets) for sockets in people.values()))

    async def _check_denylist(self) -> None:
        if self._denylist is None or not self._sockets:
            return
        denylist = self._denylist
        jtis = sorted({socket.claims.jti for socket in self._sockets})
        # Asked together: ValkeyDenylist carries concurrent checks in one MGET.
        answers = await asyncio.gather(*(denylist.is_revoked(jti) for jti in jtis), return_exceptions=True)
        revoked: set[str] = set()
        for jti, answer in zip(jtis, answers, strict=True):
            if isinstance(answer, BaseException):
                logger.warning("denylist unavailable for open sockets; asked again later", error=repr(answer))
                return
            if answer:
                revoked.add(jti)
        for socket in list(self._sockets):
            if socket.claims.jti in revoked:
                self._refuse(socket, token_revoked(socket.locale))

    async def _readmit(self, sockets: list[WatchedSocket]) -> None:
        live = [socket for socket in sockets if not socket.done]
        if not live:
            return
        first = live[0]
        try:
            admission = await self._admit(first.claims, first.dojo_id)
        except AccessRefused as refusal:
            for socket in live:
                self._refuse(socket, refusal)
            return
        except Exception as error:
            logger.warning(
                "admission unavailable for open sockets; checked again later",
                dojo_id=str(first.dojo_id),
                error=repr(error),
            )
            return
        for socket in live:
            if socket.readmitted is not None and not socket.done:
                try:
                    socket.readmitted(admission)
                except Exception:
                    logger.exception("updating an open socket's admission failed", dojo_id=str(first.dojo_id))

    def _refuse(self, socket: WatchedSocket, refusal: AccessRefused) -> None:
        if socket.done:
            return
        self.forget(socket)
        logger.info(
            "open dojo socket no longer authorised",
            dojo_id=str(socket.dojo_id),
            user_id=str(socket.claims.user_id),
            code=refusal.code,
            reason=refusal.reason,
        )
        try:
            socket.close(refusal)
        except Exception:
            logger.exception("closing an unauthorised dojo socket failed", dojo_id=str(socket.dojo_id))
