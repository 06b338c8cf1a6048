"""The dojos' business rules (the seed's DojoService). Nothing here knows about HTTP.

Who sees a dojo: anyone of the tenant when it is public; otherwise its creator and whoever took
part in it (leaving does not make a dojo vanish from one's history). Seeing is what joining by
id needs; a private dojo is otherwise joined with its join code. A dojo one may not see is "not
found", whatever the reason.

The creator is the facilitator: only they change, start, end or cancel the dojo, draw a new
join code, and manage its people: remove a person (who may then not join that dojo again, by id
or by code; the facilitator cannot remove themself) or change a person's role (within the same
limits as joining). The status only moves forward: SCHEDULED -> ACTIVE -> COMPLETED, and SCHEDULED or
ACTIVE -> CANCELLED; a finished dojo never changes again.

Who is in: ``max_participants`` PARTICIPANTs (the creator is one), and besides them at most
`MAX_OBSERVERS` OBSERVERs, who read and chat but never edit and are not counted against the
dojo's size. Every join locks the dojo's row first, so concurrent joins never overfill it.

Every change of a dojo (its fields, its status, who is in it) bumps its ``version``; a
`DojoChangeListener` (the search's indexing) hears of it once committed. Once an end or a
cancel has committed, the dojo's rooms are closed (`realtime.ports.LiveRooms.close_room`, code
4409); the live rooms the service is given keep the FINAL snapshot on the way (in the assembled
app, `realtime.session.SessionEndingRooms`), so nothing here reads or stores code. Once a change
of who is in the dojo has committed (a leave, a removal, a new role), its open sockets are checked
again at once, on every instance (`LiveRooms.recheck`): a removed person's close with 4403, a
person made observer can no longer edit.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

import msgspec
import structlog

from api.common.errors import BadRequestError, FieldError, ValidationProblem
from api.common.i18n import N_
from api.common.pagination import PageParams
from api.common.storage import BlobStorage
from realtime.dojos import repository
from realtime.dojos.errors import (
    DojoFullError,
    DojoNotFoundError,
    DojoStatusError,
    FacilitatorOnlyError,
    FacilitatorStaysError,
    NotAParticipantError,
    ObserversFullError,
    ParticipantNotFoundError,
    ParticipantRemovedError,
)
from realtime.dojos.joincode import new_join_code, normalize_join_code
from realtime.dojos.repository import DojoQuery, DojoRecord, JoinCodeTakenError, NewDojo, ParticipantRecord
from realtime.dojos.throttle import JoinCodeThrottle
from realtime.dojos.unit_of_work import UnitOfWork
from realtime.ports import LiveRooms, Role
from realtime.sandbox.languages import SPECS, canonical_language_id

logger = structlog.get_logger(__name__)

MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 5000
MAX_DISPLAY_NAME_LENGTH = 100
MAX_INITIAL_CODE_BYTES = 64 * 1024
MAX_QUERY_LENGTH = 100
DEFAULT_MAX_PARTICIPANTS = 10
MIN_PARTICIPANTS = 2
MAX_PARTICIPANTS = 50
MAX_OBSERVERS = 100
"""Observers of one dojo, apart from its participants: enough for a class watching, few enough
that one room's fan-out stays cheap."""
DEFAULT_ROTATION_MINUTES = 5
ROTATION_MINUTES = (1, 60)
DEFAULT_BREAK_EVERY = 4
BREAK_EVERY = (0, 20)
"""Rotations between two breaks; 0: no breaks."""
DEFAULT_BREAK_MINUTES = 5
BREAK_MINUTES = (1, 30)
SCHEDULE_TOLERANCE = timedelta(minutes=5)
"""How far in the past a scheduled start may be (a form filled in slowly)."""
SCHEDULE_HORIZON = timedelta(days=366)
JOIN_CODE_DRAWS = 5
LIVE_CALL_TIMEOUT_SECONDS = 15.0
"""How long closing a dojo's rooms may take: the FINAL snapshot (database and storage) is kept on the way."""
CLOSE_CODE_NOT_RUNNING = 4409
"""`realtime.ports.AccessRefused`'s code for a dojo that is not running; rooms close with it."""

ROLES: tuple[Role, ...] = ("PARTICIPANT", "OBSERVER")
STATUSES: tuple[str, ...] = ("SCHEDULED", "ACTIVE", "COMPLETED", "CANCELLED")
DEFAULT_LIST_STATUSES: tuple[str, ...] = ("ACTIVE", "SCHEDULED")
LANGUAGE_IDS: tuple[str, ...] = tuple(spec.id for spec in SPECS)
LANGUAGE_NAMES: dict[str, str] = {spec.id: spec.name for spec in SPECS}
"""The languages a dojo may use: those the sandbox knows how to run (whether a given sandbox
host has one installed is the run's business, not the dojo's)."""


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: UUID
    tenant_id: UUID
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DojoDraft:
    """A new dojo as the client sent it; `DojoService.create` checks and normalises it."""

    name: str
    language: str
    description: str | None = None
    max_participants: int | None = None
    is_private: bool = True
    scheduled_start_time: datetime | None = None
    initial_code: str | None = None
    rotation_minutes: int | None = None
    break_every: int | None = None
    break_minutes: int | None = None
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class DojoChanges:
    """A partial update: fields left `msgspec.UNSET` stay as they are; ``None`` clears."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    language: str | msgspec.UnsetType = msgspec.UNSET
    max_participants: int | msgspec.UnsetType = msgspec.UNSET
    is_private: bool | msgspec.UnsetType = msgspec.UNSET
    scheduled_start_time: datetime | msgspec.UnsetType | None = msgspec.UNSET
    initial_code: str | msgspec.UnsetType | None = msgspec.UNSET
    rotation_minutes: int | msgspec.UnsetType = msgspec.UNSET
    break_every: int | msgspec.UnsetType = msgspec.UNSET
    break_minutes: int | msgspec.UnsetType = msgspec.UNSET


@dataclass(frozen=True, slots=True)
class DojoFilters:
    statuses: Sequence[str] = ()
    """Empty: active and scheduled ones."""
    language: str | None = None
    text: str | None = None
    mine: bool = False


@dataclass(frozen=True, slots=True)
class DojoView:
    """A dojo as one person sees it: who is in, and where they stand."""

    dojo: DojoRecord
    participants: list[ParticipantRecord]
    viewer_id: UUID

    @property
    def me(self) -> ParticipantRecord | None:
        return next((p for p in self.participants if p.user_id == self.viewer_id), None)

    @property
    def is_facilitator(self) -> bool:
        return self.dojo.creator_id == self.viewer_id

    @property
    def may_see_join_code(self) -> bool:
        """The facilitator and the people in the dojo may pass the code on; others never see it."""
        return self.is_facilitator or self.me is not None


class DojoChangeListener(Protocol):
    """Told of every committed change of a dojo (the search's indexing), with its new version."""

    async def dojo_changed(self, tenant_id: UUID, dojo_id: UUID, version: int) -> None: ...


# -- validation ---------------------------------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []
        self.extra: dict[str, object] = {}

    def add(self, field: str, message: str, **params: Any) -> None:
        error: FieldError = {"field": field, "message": message}
        if params:
            error["params"] = params
        self.items.append(error)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationProblem(errors=self.items, extra=self.extra)


def _has_control_characters(text: str, *, allow_newlines: bool = False) -> bool:
    allowed = "\n\r\t" if allow_newlines else ""
    return any(unicodedata.category(char) == "Cc" and char not in allowed for char in text)


def _clean_name(value: str, errors: _Errors) -> str:
    name = " ".join(value.split())
    if not name:
        errors.add("name", N_("Must not be empty."))
    elif len(name) > MAX_NAME_LENGTH:
        errors.add("name", N_("Must have at most {limit} characters."), limit=MAX_NAME_LENGTH)
    return name


def _clean_description(value: str | None, errors: _Errors) -> str | None:
    if value is None or not value.strip():
        return None
    description = value.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        errors.add("description", N_("Must have at most {limit} characters."), limit=MAX_DESCRIPTION_LENGTH)
    return description


def clean_language(value: str, errors: _Errors, field: str = "language") -> str:
    language = canonical_language_id(value)
    if language is None:
        errors.add(
            field,
            N_('Unknown language "{value}". Use one of: {allowed}.'),
            value=value.strip()[:60],
            allowed=", ".join(LANGUAGE_IDS),
        )
        errors.extra["allowedLanguages"] = list(LANGUAGE_IDS)
        return value
    return language


def _clean_range(value: int, field: str, bounds: tuple[int, int], errors: _Errors) -> int:
    low, high = bounds
    if not low <= value <= high:
        errors.add(field, N_("Must be between {low} and {high}."), low=low, high=high)
    return value


def _clean_schedule(value: datetime | None, errors: _Errors, now: datetime) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        errors.add("scheduledStartTime", N_("Must include a time zone, as in 2026-05-01T19:00:00-03:00."))
        return value
    if value < now - SCHEDULE_TOLERANCE:
        errors.add("scheduledStartTime", N_("Must not be in the past."))
    elif value > now + SCHEDULE_HORIZON:
        errors.add("scheduledStartTime", N_("Must be at most a year from now."))
    return value


def _clean_initial_code(value: str | None, errors: _Errors) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value.encode()) > MAX_INITIAL_CODE_BYTES:
        errors.add("initialCode", N_("Must have at most {limit} KB."), limit=MAX_INITIAL_CODE_BYTES // 1024)
    elif "\x00" in value:
        errors.add("initialCode", N_("Must not contain NUL characters."))
    return value


def clean_display_name(value: str | None, errors: _Errors) -> str | None:
    if value is None:
        return None
    name = " ".join(value.split())
    if not name:
        errors.add("displayName", N_("Must not be empty."))
    elif len(name) > MAX_DISPLAY_NAME_LENGTH:
        errors.add("displayName", N_("Must have at most {limit} characters."), limit=MAX_DISPLAY_NAME_LENGTH)
    elif _has_control_characters(name):
        errors.add("displayName", N_("Must not contain control characters."))
    return name


def clean_role(value: str, errors: _Errors) -> Role:
    role = value.strip().upper()
    if role not in ROLES:
        errors.add("role", N_("Must be one of: {allowed}."), allowed=", ".join(ROLES))
        return "PARTICIPANT"
    return role


def fallback_display_name(user_id: UUID) -> str:
    """A neutral name for someone who never gave one: the same in every language."""
    return f"user-{user_id.hex[:8]}"


def _parameter_problem(field: str, message: str, **params: Any) -> BadRequestError:
    error: FieldError = {"field": field, "message": message}
    if params:
        error["params"] = params
    return BadRequestError(N_("Some request parameters are invalid."), errors=[error])


def _list_statuses(values: Sequence[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(value.strip().upper() for value in values if value.strip()))
    unknown = [value for value in wanted if value not in STATUSES]
    if unknown:
        raise _parameter_problem("status", N_("Must be one of: {allowed}."), allowed=", ".join(STATUSES))
    return wanted or DEFAULT_LIST_STATUSES


def _list_language(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    language = canonical_language_id(value)
    if language is None:
        problem = _parameter_problem(
            "language",
            N_('Unknown language "{value}". Use one of: {allowed}.'),
            value=value.strip()[:60],
            allowed=", ".join(LANGUAGE_IDS),
        )
        problem.extra["allowedLanguages"] = list(LANGUAGE_IDS)
        raise problem
    return language


def _list_text(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    text = " ".join(value.split())
    if len(text) > MAX_QUERY_LENGTH:
        raise _parameter_problem("q", N_("Must have at most {limit} characters."), limit=MAX_QUERY_LENGTH)
    return text


# -- the service --------------------------------------------------------------------------------------------


def can_see(dojo: DojoRecord, viewer_id: UUID, row: ParticipantRecord | None) -> bool:
    """Public, mine, or one I take (or took) part in."""
    return not dojo.is_private or dojo.creator_id == viewer_id or row is not None


class DojoService:
    def __init__(
        self,
        storage: BlobStorage,
        *,
        live: LiveRooms | None = None,
        changes: DojoChangeListener | None = None,
        throttle: JoinCodeThrottle | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.storage = storage
        self.live = live
        """The live rooms (set once they exist); None: no room to close."""
        self.changes = changes
        self.throttle = throttle
        self._clock = clock

    # -- reads ------------------------------------------------------------------------------------------

    async def get(self, work: UnitOfWork, actor: Actor, dojo_id: UUID) -> DojoView:
        await self._visible(work, actor, dojo_id)
        return await self._view(work, actor, dojo_id)

    async def list_dojos(
        self, work: UnitOfWork, actor: Actor, filters: DojoFilters, paging: PageParams
    ) -> tuple[list[DojoRecord], int]:
        query = DojoQuery(
            tenant_id=actor.tenant_id,
            viewer_id=actor.user_id,
            statuses=_list_statuses(filters.statuses),
            language=_list_language(filters.language),
            text=_list_text(filters.text),
            mine=filters.mine,
            limit=paging.limit,
            offset=paging.offset,
        )
        return await repository.list_dojos(work.connection, query)

    # -- writes -----------------------------------------------------------------------------------------

    async def create(self, work: UnitOfWork, actor: Actor, draft: DojoDraft) -> DojoView:
        """The creator joins at once as a PARTICIPANT, and facilitates."""
        errors = _Errors()
        name = _clean_name(draft.name, errors)
        description = _clean_description(draft.description, errors)
        language = clean_language(draft.language, errors)
        max_participants = _clean_range(
            DEFAULT_MAX_PARTICIPANTS if draft.max_participants is None else draft.max_participants,
            "maxParticipants",
            (MIN_PARTICIPANTS, MAX_PARTICIPANTS),
            errors,
        )
        schedule = _clean_schedule(draft.scheduled_start_time, errors, self._clock())
        initial_code = _clean_initial_code(draft.initial_code, errors)
        rotation = _clean_range(
            DEFAULT_ROTATION_MINUTES if draft.rotation_minutes is None else draft.rotation_minutes,
            "rotationMinutes",
            ROTATION_MINUTES,
            errors,
        )
        break_every = _clean_range(
            DEFAULT_BREAK_EVERY if draft.break_every is None else draft.break_every,
            "breakEvery",
            BREAK_EVERY,
            errors,
        )
        break_minutes = _clean_range(
            DEFAULT_BREAK_MINUTES if draft.break_minutes is None else draft.break_minutes,
            "breakMinutes",
            BREAK_MINUTES,
            errors,
        )
        display_name = clean_display_name(draft.display_name, errors)
        errors.raise_if_any()
        dojo = await self._insert_with_fresh_code(
            work,
            lambda code: NewDojo(
                tenant_id=actor.tenant_id,
                creator_id=actor.user_id,
                name=name,
                description=description,
                language=language,
                join_code=code,
                max_participants=max_participants,
                is_private=draft.is_private,
                scheduled_start_time=schedule,
                initial_code=initial_code,
                rotation_minutes=rotation,
                break_every=break_every,
                break_minutes=break_minutes,
            ),
        )
        name_in_dojo = display_name or await self._remembered_name(work, actor)
        await repository.put_participant(
            work.connection, actor.tenant_id, dojo.dojo_id, actor.user_id, "PARTICIPANT", name_in_dojo
        )
        self._announce(work, dojo.dojo_id, dojo.version)
        return await self._view(work, actor, dojo.dojo_id)

    async def update(self, work: UnitOfWork, actor: Actor, dojo_id: UUID, changes: DojoChanges) -> DojoView:
        dojo = await self._facilitated(work, actor, dojo_id)
        if dojo.is_finished:
            raise DojoStatusError.finished(dojo.status)
        errors = _Errors()
        columns: dict[str, Any] = {}
        if not isinstance(changes.name, msgspec.UnsetType):
            columns["name"] = _clean_name(changes.name, errors)
        if not isinstance(changes.description, msgspec.UnsetType):
            columns["description"] = _clean_description(changes.description, errors)
        if not isinstance(changes.language, msgspec.UnsetType):
            columns["language"] = clean_language(changes.language, errors)
        if not isinstance(changes.max_participants, msgspec.UnsetType):
            limit = _clean_range(
                changes.max_participants, "maxParticipants", (MIN_PARTICIPANTS, MAX_PARTICIPANTS), errors
            )
            if MIN_PARTICIPANTS <= limit < dojo.participant_count:
                errors.add(
                    "maxParticipants",
                    N_("Must not be less than the {count} participants already in the dojo."),
                    count=dojo.participant_count,
                )
            columns["max_participants"] = limit
        if not isinstance(changes.is_private, msgspec.UnsetType):
            columns["is_private"] = changes.is_private
        if not isinstance(changes.scheduled_start_time, msgspec.UnsetType):
            columns["scheduled_start_time"] = _clean_schedule(
                changes.scheduled_start_time, errors, self._clock()
            )
        if not isinstance(changes.initial_code, msgspec.UnsetType):
            columns["initial_code"] = _clean_initial_code(changes.initial_code, errors)
        for field, column, bounds in (
            ("rotationMinutes", "rotation_minutes", ROTATION_MINUTES),
            ("breakEvery", "break_every", BREAK_EVERY),
            ("breakMinutes", "break_minutes", BREAK_MINUTES),
        ):
            value = getattr(changes, column)
            if not isinstance(value, msgspec.UnsetType):
                columns[column] = _clean_range(value, field, bounds, errors)
        errors.raise_if_any()
        if columns:
            version = await repository.update_dojo(work.connection, dojo.dojo_id, columns)
            self._announce(work, dojo.dojo_id, version)
        return await self._view(work, actor, dojo.dojo_id)

    async def start(self, work: UnitOfWork, actor: Actor, dojo_id: UUID) -> DojoView:
        dojo = await self._facilitated(work, actor, dojo_id)
        if dojo.status == "ACTIVE":
            raise DojoStatusError.already_started(dojo.status)
        if dojo.is_finished:
            raise DojoStatusError.finished(dojo.status)
        version = await repository.update_dojo(
            work.connection, dojo.dojo_id, {"status": "ACTIVE", "started_at": self._clock()}
        )
        self._announce(work, dojo.dojo_id, version)
        return await self._view(work, actor, dojo.dojo_id)

    async def end(self, work: UnitOfWork, actor: Actor, dojo_id: UUID) -> DojoView:
        dojo = await self._facilitated(work, actor, dojo_id)
        if dojo.status == "SCHEDULED":
            raise DojoStatusError.not_started(dojo.status)
        if dojo.is_finished:
            raise DojoStatusError.finished(dojo.status)
        version = await repository.update_dojo(
            work.connection, dojo.dojo_id, {"status": "COMPLETED", "ended_at": self._clock()}
        )
        self._announce(work, dojo.dojo_id, version)
        self._close_room(work, dojo.dojo_id, "dojo-ended")
        return await self._view(work, actor, dojo.dojo_id)

    async def cancel(self, work: UnitOfWork, actor: Actor, dojo_id: UUID) -> DojoView:
        dojo = await self._facilitated(work, actor, dojo_id)
        if dojo.is_finished:
            raise DojoStatusError.finished(dojo.status)
        version = await repository.update_dojo(
            work.connection, dojo.dojo_id, {"status": "CANCELLED", "ended_at": self._clock()}
        )
        self._announce(work, dojo.dojo_id, version)
        self._close_room(work, dojo.dojo_id, "dojo-cancelled")
        return await self._view(work, actor, dojo.dojo_id)

    async def regenerate_join_code(self, work: UnitOfWork, actor: Actor, dojo_id: UUID) -> DojoView:
        """A new code; the old one stops working at once (people already in stay in)."""
        dojo = await self._facilitated(work, actor, dojo_id)
        if dojo.is_finished:
            raise DojoStatusError.finished(dojo.status)
        for _ in range(JOIN_CODE_DRAWS):
            try:
                version = await repository.update_dojo(
                    work.connection, dojo.dojo_id, {"join_code": new_join_code()}
                )
            except JoinCodeTakenError:
                continue
            self._announce(work, dojo.dojo_id, version)
            return await self._view(work, actor, dojo.dojo_id)
        raise RuntimeError("no free join code after several draws")

    async def join(
        self, work: UnitOfWork, actor: Actor, dojo_id: UUID, role: str, display_name: str | None
    ) -> DojoView:
        """By id: a public dojo, or one the caller created or took part in."""
        errors = _Errors()
        wanted_role = clean_role(role, errors)
        name = clean_display_name(display_name, errors)
        errors.raise_if_any()
        dojo, row = await self._visible(work, actor, dojo_id, lock=True)
        return await self._join(work, actor, dojo, row, wanted_role, name)

    async def join_by_code(
        self, work: UnitOfWork, actor: Actor, join_code: str, role: str, display_name: str | None
    ) -> DojoView:
        """Any dojo of the caller's tenant, private ones included; other tenants' codes match nothing."""
        errors = _Errors()
        code = normalize_join_code(join_code)
        if code is None:
            errors.add("joinCode", N_("Has an invalid format."))
        wanted_role = clean_role(role, errors)
        name = clean_display_name(display_name, errors)
        errors.raise_if_any()
        assert code is not None  # noqa: S101 - narrowed by raise_if_any
        if self.throttle is not None:
            await self.throttle.check(actor.tenant_id, actor.user_id)
        dojo_id = await repository.dojo_id_for_join_code(work.connection, code)
        dojo = None if dojo_id is None else await repository.fetch_dojo(work.connection, dojo_id, lock=True)
        if dojo is None:
            if self.throttle is not None:
                await self.throttle.missed(actor.tenant_id, actor.user_id)
            raise DojoNotFoundError()
        row = await repository.fetch_participant(work.connection, dojo.dojo_id, actor.user_id)
        return await self._join(work, actor, dojo, row, wanted_role, name)

    async def leave(self, work: UnitOfWork, actor: Actor, dojo_id: UUID) -> DojoView:
        dojo, row = await self._visible(work, actor, dojo_id, lock=True)
        if dojo.is_finished:
            raise DojoStatusError.finished(dojo.status)
        if row is None or not row.is_present:
            raise NotAParticipantError()
        await repository.mark_left(work.connection, dojo.dojo_id, actor.user_id)
        version = await repository.bump_version(work.connection, dojo.dojo_id)
        self._announce(work, dojo.dojo_id, version)
        self._recheck_rooms(work, dojo.dojo_id)
        return await self._view(work, actor, dojo.dojo_id)

    async def remove_participant(
        self, work: UnitOfWork, actor: Actor, dojo_id: UUID, user_id: UUID
    ) -> DojoView:
        """The facilitator takes a person out of the dojo for good: their sockets close at once and
        joining again (by id or by code) is refused. Removing someone already removed changes nothing."""
        dojo = await self._facilitated(work, actor, dojo_id)
        if dojo.is_finished:
            raise DojoStatusError.finished(dojo.status)
        if user_id == dojo.creator_id:
            raise FacilitatorStaysError()
        row = await repository.fetch_participant(work.connection, dojo.dojo_id, user_id)
        if row is None:
            raise ParticipantNotFoundError()
        if not row.is_removed:
            await repository.mark_removed(work.connection, dojo.dojo_id, user_id)
            version = await repository.bump_version(work.connection, dojo.dojo_id)
            self._announce(work, dojo.dojo_id, version)
            self._recheck_rooms(work, dojo.dojo_id)
        return await self._view(work, actor, dojo.dojo_id)

    async def change_role(
        self, work: UnitOfWork, actor: Actor, dojo_id: UUID, user_id: UUID, role: str
    ) -> DojoView:
        """The facilitator makes a person in the dojo a PARTICIPANT or an OBSERVER, within the limits
        joining has (a full dojo takes no more participants); open sockets follow at once."""
        errors = _Errors()
        wanted_role = clean_role(role, errors)
        errors.raise_if_any()
        dojo = await self._facilitated(work, actor, dojo_id)
        if dojo.is_finished:
            raise DojoStatusError.finished(dojo.status)
        row = await repository.fetch_participant(work.connection, dojo.dojo_id, user_id)
        if row is None or not row.is_present:
            raise ParticipantNotFoundError()
        if row.role != wanted_role:
            self._check_room_for(dojo, wanted_role)
            await repository.set_role(work.connection, dojo.dojo_id, user_id, wanted_role)
            version = await repository.bump_version(work.connection, dojo.dojo_id)
            self._announce(work, dojo.dojo_id, version)
            self._recheck_rooms(work, dojo.dojo_id)
        return await self._view(work, actor, dojo.dojo_id)

    # -- helpers ----------------------------------------------------------------------------------------

    async def _join(
        self,
        work: UnitOfWork,
        actor: Actor,
        dojo: DojoRecord,
        row: ParticipantRecord | None,
        role: Role,
        name: str | None,
    ) -> DojoView:
        """The dojo's row is locked, so the counts cannot change under us."""
        if dojo.is_finished:
            raise DojoStatusError.finished(dojo.status)
        if row is not None and row.is_removed:
            raise ParticipantRemovedError()
        present = row is not None and row.is_present
        if present and row is not None and row.role == role:
            if name is not None and name != row.display_name:
                await repository.put_participant(
                    work.connection, actor.tenant_id, dojo.dojo_id, actor.user_id, role, name
                )
            return await self._view(work, actor, dojo.dojo_id)
        self._check_room_for(dojo, role)
        name_in_dojo = name or (
            row.display_name if row is not None else await self._remembered_name(work, actor)
        )
        await repository.put_participant(
            work.connection, actor.tenant_id, dojo.dojo_id, actor.user_id, role, name_in_dojo
        )
        version = await repository.bump_version(work.connection, dojo.dojo_id)
        self._announce(work, dojo.dojo_id, version)
        if present:  # joining again with another role: their open sockets take it at once
            self._recheck_rooms(work, dojo.dojo_id)
        return await self._view(work, actor, dojo.dojo_id)

    @staticmethod
    def _check_room_for(dojo: DojoRecord, role: Role) -> None:
        """One more `role` fits the dojo (its row is locked, so the counts hold until commit)."""
        if role == "PARTICIPANT" and dojo.participant_count >= dojo.max_participants:
            raise DojoFullError(dojo.max_participants)
        if role == "OBSERVER" and dojo.observer_count >= MAX_OBSERVERS:
            raise ObserversFullError(MAX_OBSERVERS)

    async def _remembered_name(self, work: UnitOfWork, actor: Actor) -> str:
        remembered = await repository.latest_display_name(work.connection, actor.tenant_id, actor.user_id)
        return remembered or fallback_display_name(actor.user_id)

    async def _visible(
        self, work: UnitOfWork, actor: Actor, dojo_id: UUID, *, lock: bool = False
    ) -> tuple[DojoRecord, ParticipantRecord | None]:
        dojo = await repository.fetch_dojo(work.connection, dojo_id, lock=lock)
        if dojo is None:
            raise DojoNotFoundError()
        row = await repository.fetch_participant(work.connection, dojo_id, actor.user_id)
        if not can_see(dojo, actor.user_id, row):
            raise DojoNotFoundError()
        return dojo, row

    async def _facilitated(self, work: UnitOfWork, actor: Actor, dojo_id: UUID) -> DojoRecord:
        """The dojo, locked until the transaction ends, when the caller facilitates it."""
        dojo, _ = await self._visible(work, actor, dojo_id, lock=True)
        if dojo.creator_id != actor.user_id:
            raise FacilitatorOnlyError()
        return dojo

    async def _view(self, work: UnitOfWork, actor: Actor, dojo_id: UUID) -> DojoView:
        dojo = await repository.fetch_dojo(work.connection, dojo_id)
        if dojo is None:  # pragma: no cover - checked earlier in the same transaction
            raise DojoNotFoundError()
        participants = await repository.participants_of(work.connection, dojo_id)
        return DojoView(dojo=dojo, participants=participants, viewer_id=actor.user_id)

    async def _insert_with_fresh_code(self, work: UnitOfWork, build: Callable[[str], NewDojo]) -> DojoRecord:
        for _ in range(JOIN_CODE_DRAWS):
            try:
                return await repository.insert_dojo(work.connection, build(new_join_code()))
            except JoinCodeTakenError:
                continue
        raise RuntimeError("no free join code after several draws")

    def _announce(self, work: UnitOfWork, dojo_id: UUID, version: int) -> None:
        listener = self.changes
        if listener is None:
            return
        tenant_id = work.tenant_id

        async def dojo_changed() -> None:
            await listener.dojo_changed(tenant_id, dojo_id, version)

        work.after_commit(dojo_changed)

    def _close_room(self, work: UnitOfWork, dojo_id: UUID, reason: str) -> None:
        live = self.live
        if live is None:
            return

        async def close_room() -> None:
            await asyncio.wait_for(
                live.close_room(dojo_id, CLOSE_CODE_NOT_RUNNING, reason), LIVE_CALL_TIMEOUT_SECONDS
            )

        work.after_commit(close_room)

    def _recheck_rooms(self, work: UnitOfWork, dojo_id: UUID) -> None:
        """After the commit, the dojo's open sockets ask for their admission again (every instance)."""
        live = self.live
        if live is None:
            return

        async def recheck_rooms() -> None:
            await asyncio.wait_for(live.recheck(dojo_id), LIVE_CALL_TIMEOUT_SECONDS)

        work.after_commit(recheck_rooms)
