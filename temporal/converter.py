"""One data converter for every client and worker: pydantic for JSON, msgspec Structs too.

Pydantic's converter already handles dataclasses (the workflows' inputs), pydantic models,
UUIDs and datetimes. The API's schemas are msgspec Structs, which pydantic does not know,
so Structs are encoded and decoded by msgspec itself; the JSON on the wire is the same.
Workers and the clients that start workflows must use the same converter.
"""

from __future__ import annotations

import inspect
from typing import Any

import msgspec
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)


def _is_struct_type(type_hint: Any) -> bool:
    return inspect.isclass(type_hint) and issubclass(type_hint, msgspec.Struct)


class JSONPayloadConverter(PydanticJSONPlainPayloadConverter):
    """``json/plain`` payloads: msgspec for Structs, pydantic for everything else."""

    def to_payload(self, value: Any) -> Payload | None:
        if isinstance(value, msgspec.Struct):
            return Payload(metadata={"encoding": self.encoding.encode()}, data=msgspec.json.encode(value))
        return super().to_payload(value)

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        if _is_struct_type(type_hint):
            return msgspec.json.decode(payload.data, type=type_hint)
        return super().from_payload(payload, type_hint)


class PayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            *(
                JSONPayloadConverter() if isinstance(converter, JSONPlainPayloadConverter) else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


data_converter = DataConverter(payload_converter_class=PayloadConverter)
"""Pass to `Client.connect`, `Replayer` and `WorkflowEnvironment`."""
