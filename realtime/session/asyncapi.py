"""The session channel described as an AsyncAPI 3.0 document, generated from the protocol's types.

The same msgspec structs that encode and decode the frames produce the message schemas, so the
document cannot drift from the code; a test checks that every frame type is in it.
"""

from __future__ import annotations

from typing import Any, get_args

import msgspec

from realtime.session.protocol import AnyClientMessage, AnyServerMessage, ClientMessage, ServerMessage

ASYNCAPI_VERSION = "3.0.0"
CHANNEL = "session"
ADDRESS = "/v1/dojos/{dojoId}/session"


def _tag(message: type[msgspec.Struct]) -> str:
    tag = message.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{message.__name__} has no string tag")
    return tag


def client_messages() -> tuple[type[ClientMessage], ...]:
    return tuple(get_args(AnyClientMessage))


def server_messages() -> tuple[type[ServerMessage], ...]:
    return tuple(get_args(AnyServerMessage))


def asyncapi_document(server_url: str = "ws://127.0.0.1:58000") -> dict[str, Any]:
    """The channel, its messages (one per ``type``) and two operations: what a client sends and
    what it receives."""
    _, schemas = msgspec.json.schema_components(
        [AnyClientMessage, AnyServerMessage], ref_template="#/components/schemas/{name}"
    )
    sent, received = client_messages(), server_messages()
    messages = {
        message.__name__: {
            "name": _tag(message),
            "title": _tag(message),
            "summary": (message.__doc__ or "").strip().split("\n")[0] or _tag(message),
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{message.__name__}"},
        }
        for message in (*sent, *received)
    }

    def refs(group: tuple[type[msgspec.Struct], ...]) -> list[dict[str, str]]:
        return [{"$ref": f"#/channels/{CHANNEL}/messages/{message.__name__}"} for message in group]

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Mr Bill dojo session channel",
            "version": "1.0.0",
            "description": (
                "Chat, presence, the randori timer and runs of a dojo over one JSON WebSocket. Open it "
                "with ?access_token=<access token> (or an Authorization: Bearer header); refusals close "
                "with 4401/4403/4404/4409/4413/4429 and a JSON reason. An open socket is closed the same "
                "way when its token expires (unless refreshed with token.refresh) or is revoked (4401), "
                "or when its person is no longer admitted to the dojo (4403)."
            ),
        },
        "servers": {
            "edge": {"host": server_url.split("://", 1)[-1], "protocol": server_url.split("://", 1)[0]}
        },
        "channels": {
            CHANNEL: {
                "address": ADDRESS,
                "parameters": {"dojoId": {"description": "The dojo's id (a UUID)."}},
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
            }
        },
        "operations": {
            "sendToSession": {
                "action": "send",
                "channel": {"$ref": f"#/channels/{CHANNEL}"},
                "messages": refs(sent),
            },
            "receiveFromSession": {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{CHANNEL}"},
                "messages": refs(received),
            },
        },
        "components": {"messages": messages, "schemas": schemas},
    }
