"""The code document's size cap, decided by the room before a client's change is applied: growth
past the cap is refused, changes within it and changes that do not grow the state go through."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from pycrdt import Doc, Text, TransactionEvent, create_update_message, read_message

from realtime.live import LiveLimits
from realtime.live.protocol import CODE_TEXT
from realtime.live.rooms import CodeRoom

pytestmark = pytest.mark.unit

CAP = 4096


class Editor:
    """A client's own document, and the SYNC update messages its edits make."""

    def __init__(self, state: bytes | None = None) -> None:
        self.doc: Doc[Text] = Doc()
        if state is not None:
            self.doc.apply_update(state)
        self.messages: list[bytes] = []
        self.doc.observe(self._collect)

    def _collect(self, event: TransactionEvent) -> None:
        self.messages.append(create_update_message(event.update))

    @property
    def text(self) -> Text:
        return self.doc.get(CODE_TEXT, type=Text)

    def append(self, text: str) -> bytes:
        self.text.insert(len(self.text), text)
        return self.messages[-1]

    def delete(self, length: int) -> bytes:
        del self.text[0:length]
        return self.messages[-1]


def room(cap: int = CAP) -> CodeRoom:
    """A room without its relay: the cap is decided from the document alone."""
    return CodeRoom(uuid.uuid4(), cast("Any", None), LiveLimits(max_document_bytes=cap))


def apply(target: CodeRoom, message: bytes) -> None:
    """What the room does with an accepted change (without a relay: measured again at once)."""
    target.doc.apply_update(read_message(message[2:]))
    assert target.state_bytes > 0


def test_growth_within_the_cap_goes_through_and_past_it_is_refused() -> None:
    target, editor = room(), Editor()
    small = editor.append("x" * 1000)
    assert target._within_cap(small)
    apply(target, small)
    assert not target._within_cap(editor.append("y" * (CAP * 2)))


def test_many_small_edits_reach_the_cap_exactly_once() -> None:
    target, editor = room(), Editor()
    accepted = 0
    while True:
        message = editor.append("z" * 100)
        if not target._within_cap(message):
            break
        apply(target, message)
        accepted += 1
    assert target.state_bytes <= CAP
    assert accepted * 100 > CAP // 2  # not refused long before the cap


def test_a_deletion_goes_through_even_above_a_lowered_cap() -> None:
    writer, editor = room(cap=10 * CAP), Editor()
    apply(writer, editor.append("w" * (3 * CAP)))
    lowered = room(cap=CAP)
    apply(lowered, _framed(writer.doc.get_update()))
    assert lowered.state_bytes > CAP
    follower = Editor(lowered.doc.get_update())
    assert lowered._within_cap(follower.delete(2 * CAP))
    assert not lowered._within_cap(follower.append("more"))


def _framed(update: bytes) -> bytes:
    return create_update_message(update)
