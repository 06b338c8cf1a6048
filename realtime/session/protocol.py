"""The session channel's wire protocol: JSON text frames, each an object with a ``type``.

One socket per person and dojo at ``/v1/dojos/{dojoId}/session`` carries everything that is not
the code document: chat, presence (who is here, who drives), the randori timer and "Run". Field
names are camelCase like every JSON body of the platform; times are RFC 3339 in UTC and every
countdown also carries the server's clock, so a client can correct for its own.

Client to server: ``chat.send``, ``run.request``, ``randori.start`` / ``.pause`` / ``.resume`` /
``.skip`` / ``.reorder`` / ``.stop`` (facilitator only), ``token.refresh`` and ``ping``.

Server to client: ``welcome`` (first frame), ``presence``, ``chat.message``, ``randori.state``,
``randori.tick``, ``run.started``, ``run.result``, ``error`` (to the sender only), ``pong``,
``token.refreshed``, ``session.ended`` and ``refused`` (just before a close with a 4xxx code).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

from api.common.schemas import CamelStruct

RandoriStatus = Literal["IDLE", "RUNNING", "PAUSED"]
RandoriPhase = Literal["TURN", "BREAK"]


# -- client to server ----------------------------------------------------------------------------


class ClientMessage(CamelStruct, tag_field="type", forbid_unknown_fields=False):
    """What a client may send; unknown fields are ignored so older servers accept newer clients."""


class ChatSend(ClientMessage, tag="chat.send"):
    text: str


class RunRequest(ClientMessage, tag="run.request"):
    run_id: UUID | None = None
    """Chosen by the client so that a retried click never runs the code twice; else the server's."""
    language: str | None = None
    """The dojo's language unless given."""
    stdin: str = ""


class RandoriStart(ClientMessage, tag="randori.start"):
    order: list[UUID] | None = None
    """The drivers' order; by default the participants as they joined."""


class RandoriPause(ClientMessage, tag="randori.pause"):
    pass


class RandoriResume(ClientMessage, tag="randori.resume"):
    pass


class RandoriSkip(ClientMessage, tag="randori.skip"):
    pass


class RandoriReorder(ClientMessage, tag="randori.reorder"):
    order: list[UUID]


class RandoriStop(ClientMessage, tag="randori.stop"):
    pass


class TokenRefresh(ClientMessage, tag="token.refresh"):
    access_token: str


class Ping(ClientMessage, tag="ping"):
    pass


RandoriCommand = RandoriStart | RandoriPause | RandoriResume | RandoriSkip | RandoriReorder | RandoriStop
AnyClientMessage = ChatSend | RunRequest | RandoriCommand | TokenRefresh | Ping

client_decoder = msgspec.json.Decoder(AnyClientMessage)


# -- parts of server messages ----------------------------------------------------------------------


class You(CamelStruct):
    user_id: UUID
    display_name: str
    role: str
    facilitator: bool
    read_only: bool
    connection_id: str


class DojoInfo(CamelStruct):
    dojo_id: UUID
    status: str
    language: str


class PresenceMember(CamelStruct):
    """One person in the room, however many sockets (tabs, devices) they have open."""

    user_id: UUID
    display_name: str
    role: str
    facilitator: bool
    connections: int
    since: datetime
    driving: bool


class ChatMessageOut(CamelStruct):
    message_id: UUID
    dojo_id: UUID
    user_id: UUID
    display_name: str
    message: str
    timestamp: datetime


class RandoriView(CamelStruct):
    """The timer as every client sees it: the same absolute deadline for all, plus the remaining
    seconds by the server's clock at ``serverTime``."""

    status: RandoriStatus
    phase: RandoriPhase
    order: list[UUID]
    driver_id: UUID | None
    next_driver_id: UUID | None
    turns_done: int
    turn_seconds: float
    break_every: int
    break_seconds: float
    deadline: datetime | None
    remaining_seconds: float | None
    server_time: datetime
    version: int


class LanguageOut(CamelStruct):
    id: str
    name: str
    version: str | None
    compiled: bool
    file_name: str


class RunInfo(CamelStruct):
    run_id: UUID
    user_id: UUID
    display_name: str
    language: str
    started_at: datetime


class RunOutcome(CamelStruct):
    """The seed's ExecutionResult, as the SandboxRun workflow answers it. Times in milliseconds,
    memory in bytes (peak)."""

    run_id: UUID
    user_id: UUID
    language: str
    status: str
    stdout: str
    stderr: str
    exit_code: int | None
    signal: int | None
    wall_time_ms: float
    cpu_time_ms: float
    memory_bytes: int
    output_truncated: bool
    compile_output: str | None
    language_version: str | None
    error_code: str | None
    finished_at: datetime


class Limits(CamelStruct):
    chat_max_chars: int
    chat_rate_count: int
    chat_rate_window_seconds: float
    max_frame_bytes: int


# -- server to client ------------------------------------------------------------------------------


class ServerMessage(CamelStruct, tag_field="type"):
    pass


class Welcome(ServerMessage, tag="welcome"):
    you: You
    dojo: DojoInfo
    presence: list[PresenceMember]
    randori: RandoriView
    chat: list[ChatMessageOut]
    languages: list[LanguageOut]
    run: RunInfo | None
    limits: Limits
    server_time: datetime


class PresenceChanged(ServerMessage, tag="presence"):
    members: list[PresenceMember]
    driver_id: UUID | None
    joined: UUID | None = None
    left: UUID | None = None


class ChatPosted(ServerMessage, tag="chat.message"):
    message: ChatMessageOut


class RandoriChanged(ServerMessage, tag="randori.state"):
    randori: RandoriView
    reason: str
    """``started``, ``paused``, ``resumed``, ``skipped``, ``reordered``, ``stopped``, ``rotated``,
    ``break``, ``joined`` (a participant was added to the order)."""
    by: UUID | None = None


class RandoriTick(ServerMessage, tag="randori.tick"):
    status: RandoriStatus
    phase: RandoriPhase
    driver_id: UUID | None
    deadline: datetime | None
    remaining_seconds: float | None
    server_time: datetime
    version: int


class RunStarted(ServerMessage, tag="run.started"):
    run: RunInfo


class RunFinished(ServerMessage, tag="run.result"):
    result: RunOutcome


class ErrorMessage(ServerMessage, tag="error"):
    code: str
    message: str
    retry_after: float | None = None
    run_id: UUID | None = None


class Pong(ServerMessage, tag="pong"):
    server_time: datetime


class TokenRefreshed(ServerMessage, tag="token.refreshed"):
    expires_at: datetime


class SessionEnded(ServerMessage, tag="session.ended"):
    close_code: int
    reason: str


class Refused(ServerMessage, tag="refused"):
    close_code: int
    reason: str
    message: str


AnyServerMessage = (
    Welcome
    | PresenceChanged
    | ChatPosted
    | RandoriChanged
    | RandoriTick
    | RunStarted
    | RunFinished
    | ErrorMessage
    | Pong
    | TokenRefreshed
    | SessionEnded
    | Refused
)

_encoder = msgspec.json.Encoder()


def encode(message: ServerMessage) -> str:
    return _encoder.encode(message).decode()


class _Kind(msgspec.Struct):
    type: str


_kind_decoder = msgspec.json.Decoder(_Kind)


def kind_of(frame: str) -> str:
    """The ``type`` of an encoded server message, without decoding the rest."""
    return _kind_decoder.decode(frame).type


server_decoder = msgspec.json.Decoder(AnyServerMessage)
"""For clients written in Python (tests, the benchmark)."""
