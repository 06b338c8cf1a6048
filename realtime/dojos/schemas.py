"""Request and response bodies of the dojo API: camelCase on the wire, as the seed names them.

Request bodies refuse unknown fields, so a misspelt ``maxparticipants`` is a clear 422 instead
of a change that silently never happens. Ranges, lengths, roles and languages are checked by the
service, which reports every invalid field at once, in the caller's language.

Where the sockets are: a dojo's ``wsUrl`` is the base a y-websocket client is given
(``new WebsocketProvider(wsUrl, codeRoom, doc, {params: {access_token}})`` opens
``{wsUrl}/code``); ``codeUrl`` is that full address and ``sessionUrl`` the session channel's
(chat, randori timer, runs). Both take the access token as ``?access_token=``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

from api.common.schemas import CamelStruct
from realtime.dojos.joincode import display_join_code
from realtime.dojos.repository import DojoRecord, ParticipantRecord
from realtime.dojos.service import LANGUAGE_IDS, LANGUAGE_NAMES, DojoChanges, DojoDraft, DojoView

DOJOS_PATH = "/v1/dojos"
CODE_ROOM = "code"
"""The y-websocket room name of a dojo's code: ``{wsUrl}/{CODE_ROOM}``."""
SESSION_CHANNEL = "session"


def code_room_path(dojo_id: UUID | str) -> str:
    return f"{DOJOS_PATH}/{dojo_id}/{CODE_ROOM}"


def session_channel_path(dojo_id: UUID | str) -> str:
    return f"{DOJOS_PATH}/{dojo_id}/{SESSION_CHANNEL}"


Name = Annotated[str, msgspec.Meta(description="1 to 100 characters.", examples=["Randori de TDD"])]
Description = Annotated[str, msgspec.Meta(description="At most 5000 characters.")]
Language = Annotated[
    str,
    msgspec.Meta(
        description=f"One of {', '.join(LANGUAGE_IDS)} (aliases such as py or js are accepted).",
        examples=["python"],
    ),
]
MaxParticipants = Annotated[
    int, msgspec.Meta(description="PARTICIPANTs allowed, the creator included: 2 to 50 (default 10).")
]
ScheduledStart = Annotated[
    datetime,
    msgspec.Meta(description="With a time zone; not in the past, at most a year ahead."),
]
InitialCode = Annotated[str, msgspec.Meta(description="The code the room starts with; at most 64 KB.")]
RotationMinutes = Annotated[int, msgspec.Meta(description="Minutes each driver drives: 1 to 60 (default 5).")]
BreakEvery = Annotated[
    int, msgspec.Meta(description="A break after this many rotations: 0 (no breaks) to 20 (default 4).")
]
BreakMinutes = Annotated[int, msgspec.Meta(description="Minutes of each break: 1 to 30 (default 5).")]
DisplayName = Annotated[
    str,
    msgspec.Meta(
        description="How the room names you (1 to 100 characters); default: the name you last used.",
        examples=["Maria Silva"],
    ),
]
RoleName = Annotated[
    str,
    msgspec.Meta(
        description="PARTICIPANT (edits the code) or OBSERVER (reads and chats).", examples=["PARTICIPANT"]
    ),
]


class InputStruct(CamelStruct, forbid_unknown_fields=True):
    pass


class DojoCreate(InputStruct):
    name: Name
    language: Language
    description: Description | None = None
    max_participants: MaxParticipants | None = None
    is_private: bool = True
    scheduled_start_time: ScheduledStart | None = None
    initial_code: InitialCode | None = None
    rotation_minutes: RotationMinutes | None = None
    break_every: BreakEvery | None = None
    break_minutes: BreakMinutes | None = None
    display_name: DisplayName | None = None

    def to_draft(self) -> DojoDraft:
        return DojoDraft(
            name=self.name,
            language=self.language,
            description=self.description,
            max_participants=self.max_participants,
            is_private=self.is_private,
            scheduled_start_time=self.scheduled_start_time,
            initial_code=self.initial_code,
            rotation_minutes=self.rotation_minutes,
            break_every=self.break_every,
            break_minutes=self.break_minutes,
            display_name=self.display_name,
        )


class DojoUpdate(InputStruct):
    """Only the fields sent change; ``null`` clears description, scheduled start or initial code."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    language: Language | msgspec.UnsetType = msgspec.UNSET
    max_participants: MaxParticipants | msgspec.UnsetType = msgspec.UNSET
    is_private: bool | msgspec.UnsetType = msgspec.UNSET
    scheduled_start_time: ScheduledStart | msgspec.UnsetType | None = msgspec.UNSET
    initial_code: InitialCode | msgspec.UnsetType | None = msgspec.UNSET
    rotation_minutes: RotationMinutes | msgspec.UnsetType = msgspec.UNSET
    break_every: BreakEvery | msgspec.UnsetType = msgspec.UNSET
    break_minutes: BreakMinutes | msgspec.UnsetType = msgspec.UNSET

    def to_changes(self) -> DojoChanges:
        return DojoChanges(
            name=self.name,
            description=self.description,
            language=self.language,
            max_participants=self.max_participants,
            is_private=self.is_private,
            scheduled_start_time=self.scheduled_start_time,
            initial_code=self.initial_code,
            rotation_minutes=self.rotation_minutes,
            break_every=self.break_every,
            break_minutes=self.break_minutes,
        )


class JoinRequest(InputStruct):
    role: RoleName = "PARTICIPANT"
    display_name: DisplayName | None = None


class JoinByCodeRequest(InputStruct):
    join_code: Annotated[
        str,
        msgspec.Meta(description="As the facilitator shared it; case, spaces and hyphens do not matter."),
    ]
    role: RoleName = "PARTICIPANT"
    display_name: DisplayName | None = None


class RoleChange(InputStruct):
    """The facilitator gives a person in the dojo another role."""

    role: RoleName


class ParticipantOut(CamelStruct):
    """The seed's DojoParticipant, with the name the room shows."""

    user_id: UUID
    display_name: str
    role: str
    facilitator: bool
    join_time: datetime
    last_active_time: datetime | None

    @classmethod
    def from_record(cls, participant: ParticipantRecord, creator_id: UUID) -> ParticipantOut:
        return cls(
            user_id=participant.user_id,
            display_name=participant.display_name,
            role=participant.role,
            facilitator=participant.user_id == creator_id,
            join_time=participant.join_time,
            last_active_time=participant.last_active_time,
        )


class ViewerOut(CamelStruct):
    """Where the caller stands: their role now (null: not in the dojo) and whether they facilitate."""

    role: str | None
    facilitator: bool


class DojoSummaryOut(CamelStruct):
    """A dojo in a list: the seed's Dojo without its participants and code."""

    dojo_id: UUID
    tenant_id: UUID
    creator_id: UUID
    creator_name: str | None
    name: str
    description: str | None
    language: str
    language_name: str
    max_participants: int
    participant_count: int
    observer_count: int
    is_private: bool
    status: str
    scheduled_start_time: datetime | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    updated_at: datetime
    version: int

    @classmethod
    def from_record(cls, dojo: DojoRecord) -> DojoSummaryOut:
        return cls(**_summary_fields(dojo))


def _summary_fields(dojo: DojoRecord) -> dict[str, Any]:
    return {
        "dojo_id": dojo.dojo_id,
        "tenant_id": dojo.tenant_id,
        "creator_id": dojo.creator_id,
        "creator_name": dojo.creator_name,
        "name": dojo.name,
        "description": dojo.description,
        "language": dojo.language,
        "language_name": LANGUAGE_NAMES.get(dojo.language, dojo.language),
        "max_participants": dojo.max_participants,
        "participant_count": dojo.participant_count,
        "observer_count": dojo.observer_count,
        "is_private": dojo.is_private,
        "status": dojo.status,
        "scheduled_start_time": dojo.scheduled_start_time,
        "created_at": dojo.created_at,
        "started_at": dojo.started_at,
        "ended_at": dojo.ended_at,
        "updated_at": dojo.updated_at,
        "version": dojo.version,
    }


class DojoOut(CamelStruct):
    """The seed's Dojo with its participants, the randori's settings and where its sockets are."""

    dojo_id: UUID
    tenant_id: UUID
    creator_id: UUID
    creator_name: str | None
    name: str
    description: str | None
    language: str
    language_name: str
    max_participants: int
    participant_count: int
    observer_count: int
    is_private: bool
    status: str
    scheduled_start_time: datetime | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    updated_at: datetime
    version: int
    initial_code: str | None
    join_code: str | None
    """Shown to the facilitator and the people in the dojo only (``ABCD-EFGH-JKMN``)."""
    rotation_minutes: int
    break_every: int
    break_minutes: int
    participants: list[ParticipantOut]
    viewer: ViewerOut
    ws_url: str
    """Base address of the dojo's sockets (y-websocket's serverUrl)."""
    code_room: str
    code_url: str
    session_url: str

    @classmethod
    def from_view(cls, view: DojoView, ws_base: str) -> DojoOut:
        dojo = view.dojo
        me = view.me
        ws_url = f"{ws_base}{DOJOS_PATH}/{dojo.dojo_id}"
        return cls(
            **_summary_fields(dojo),
            initial_code=dojo.initial_code,
            join_code=display_join_code(dojo.join_code) if view.may_see_join_code else None,
            rotation_minutes=dojo.rotation_minutes,
            break_every=dojo.break_every,
            break_minutes=dojo.break_minutes,
            participants=[ParticipantOut.from_record(p, dojo.creator_id) for p in view.participants],
            viewer=ViewerOut(role=None if me is None else me.role, facilitator=view.is_facilitator),
            ws_url=ws_url,
            code_room=CODE_ROOM,
            code_url=f"{ws_url}/{CODE_ROOM}",
            session_url=f"{ws_url}/{SESSION_CHANNEL}",
        )


class FieldErrorOut(CamelStruct):
    field: str
    message: str


class ProblemOut(CamelStruct, omit_defaults=True):
    """RFC 9457 problem details, as every error of every service is answered (documentation only)."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldErrorOut] | None = None
    request_id: str | None = None
    dojo_status: str | None = None
    """dojo-not-started, dojo-already-started, dojo-finished: the dojo's status now."""
    max_participants: int | None = None
    """dojo-full."""
    max_observers: int | None = None
    """dojo-observers-full."""
    allowed_languages: list[str] | None = None
    """An unknown language: the known ones."""
    retry_after: int | None = None
    """join-code-attempts: seconds to wait, also in the Retry-After header."""
