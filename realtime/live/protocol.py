"""The y-websocket wire format, as far as the server needs to look inside it.

Every WebSocket message is binary: a varuint message type, then its payload. ``0`` SYNC
(``0`` step 1: a state vector, ``1`` step 2: the updates the peer lacks, ``2`` update),
``1`` AWARENESS (a varuint-prefixed awareness update), ``2`` AUTH (``0`` permission denied
with a reason), ``3`` QUERY AWARENESS. pycrdt's room applies sync messages and relays
awareness; the socket layer reads just enough to refuse observers' edits, keep one client's
presence from overwriting another's and stamp every presence state with who sent it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import Enum

from pycrdt import (
    Decoder,
    Doc,
    Text,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_update_message,
    merge_updates,
    write_var_uint,
)

CODE_TEXT = "code"
"""The name of the shared ``Y.Text`` holding the dojo's code: ``ydoc.getText("code")`` in yjs,
``doc.get("code", type=Text)`` in pycrdt."""

MEMBER_FIELD = "member"
"""The presence field the server writes into every awareness state it relays: ``userId``,
``name`` and ``role`` of the account that sent it. Clients set the rest (``user`` with name and
colour, ``cursor``, ``selection``, ``driver``); this one they cannot forge."""

AUTH_MESSAGE = 2
QUERY_AWARENESS_MESSAGE = 3
PERMISSION_DENIED = 0


class MessageKind(Enum):
    SYNC_STEP1 = "sync-step1"
    SYNC_STEP2 = "sync-step2"
    SYNC_UPDATE = "sync-update"
    AWARENESS = "awareness"
    OTHER = "other"

    @property
    def changes_document(self) -> bool:
        return self in (MessageKind.SYNC_STEP2, MessageKind.SYNC_UPDATE)


def message_kind(message: bytes) -> MessageKind:
    """What a message is, from its first two bytes (both types are below 128: one byte each)."""
    if len(message) >= 2 and message[0] == YMessageType.SYNC:
        if message[1] == YSyncMessageType.SYNC_STEP1:
            return MessageKind.SYNC_STEP1
        if message[1] == YSyncMessageType.SYNC_STEP2:
            return MessageKind.SYNC_STEP2
        if message[1] == YSyncMessageType.SYNC_UPDATE:
            return MessageKind.SYNC_UPDATE
    elif len(message) >= 2 and message[0] == YMessageType.AWARENESS:
        return MessageKind.AWARENESS
    return MessageKind.OTHER


def write_var_string(text: str) -> bytes:
    encoded = text.encode()
    return write_var_uint(len(encoded)) + encoded


def permission_denied_message(reason: str) -> bytes:
    """y-protocols' auth message: y-websocket reports it to the application as permission denied."""
    return bytes([AUTH_MESSAGE, PERMISSION_DENIED]) + write_var_string(reason)


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's presence in an awareness update; ``state`` None means the client left."""

    client_id: int
    clock: int
    state: dict[str, object] | None


class MalformedMessageError(ValueError):
    """A message that does not follow the y-websocket protocol."""


def decode_awareness(message: bytes) -> list[AwarenessEntry]:
    """The entries of an AWARENESS message (type byte included)."""
    try:
        payload = Decoder(message[1:]).read_message()
    except (IndexError, RuntimeError) as error:
        raise MalformedMessageError(str(error)) from error
    if payload is None:
        raise MalformedMessageError("empty awareness message")
    return decode_awareness_update(payload)


def decode_awareness_update(update: bytes) -> list[AwarenessEntry]:
    """The entries of an awareness update (the payload of an AWARENESS message)."""
    try:
        decoder = Decoder(update)
        entries: list[AwarenessEntry] = []
        for _ in range(decoder.read_var_uint()):
            client_id = decoder.read_var_uint()
            clock = decoder.read_var_uint()
            raw_state = decoder.read_var_string()
            state = json.loads(raw_state) if raw_state else None
            if state is not None and not isinstance(state, dict):
                raise MalformedMessageError("an awareness state must be an object or null")
            entries.append(AwarenessEntry(client_id, clock, state))
    except (IndexError, RuntimeError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedMessageError(str(error)) from error
    return entries


def awareness_clocks(message: bytes) -> list[tuple[int, int, bool]]:
    """``(client id, clock, left)`` of each entry of an AWARENESS message, states left unparsed.

    Enough to tell whether the message brings news, which most do not: a y-websocket client
    sends back every presence change it receives.
    """
    try:
        payload = Decoder(message[1:]).read_message()
        if payload is None:
            raise MalformedMessageError("empty awareness message")
        decoder = Decoder(payload)
        clocks: list[tuple[int, int, bool]] = []
        for _ in range(decoder.read_var_uint()):
            client_id = decoder.read_var_uint()
            clock = decoder.read_var_uint()
            state = decoder.read_message()
            clocks.append((client_id, clock, state in (None, b"", b"null")))
    except (IndexError, RuntimeError) as error:
        raise MalformedMessageError(str(error)) from error
    return clocks


def encode_awareness_update(entries: list[AwarenessEntry]) -> bytes:
    """The awareness update (without the message type) carrying `entries`."""
    parts = [write_var_uint(len(entries))]
    for entry in entries:
        parts.append(write_var_uint(entry.client_id))
        parts.append(write_var_uint(entry.clock))
        parts.append(write_var_string(json.dumps(entry.state, separators=(",", ":"))))
    return b"".join(parts)


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    return create_awareness_message(encode_awareness_update(entries))


def seed_client_id(dojo_id: object, initial_code: str) -> int:
    """The Yjs client id the initial code is written with, the same on every instance.

    Two instances seeding one room at once, or a client still holding an old copy of a room
    whose state expired, then carry the very same items, which Yjs merges instead of doubling
    the code. A different initial code gets a different id, so items never clash.
    """
    digest = hashlib.sha256(f"{dojo_id}\n{initial_code}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def seed_update(dojo_id: object, initial_code: str) -> bytes:
    """The document update that writes `initial_code` into a fresh room."""
    doc: Doc[Text] = Doc(client_id=seed_client_id(dojo_id, initial_code))
    doc[CODE_TEXT] = Text(initial_code)
    return doc.get_update()


def code_text(doc: Doc[Text]) -> str:
    return str(doc.get(CODE_TEXT, type=Text))


def merge_update_messages(messages: list[bytes]) -> bytes:
    """One SYNC update message carrying every update of `messages` (Yjs merges them losslessly)."""
    if len(messages) == 1:
        return messages[0]
    updates = [_payload(message[2:]) for message in messages]
    return create_update_message(merge_updates(*updates))


def merge_awareness_messages(messages: list[bytes]) -> bytes:
    """One AWARENESS message with the entries of all `messages`, in order (later clocks win)."""
    if len(messages) == 1:
        return messages[0]
    count = 0
    entries: list[bytes] = []
    for message in messages:
        decoder = Decoder(_payload(message[1:]))
        count += decoder.read_var_uint()
        entries.append(decoder.stream[decoder.i0 :])
    return create_awareness_message(write_var_uint(count) + b"".join(entries))


def _payload(framed: bytes) -> bytes:
    """The bytes of a varuint-length-prefixed payload."""
    payload = Decoder(framed).read_message()
    if payload is None:
        raise MalformedMessageError("missing payload")
    return payload
