"""msgspec bases shared by every service's request and response bodies."""

from __future__ import annotations

import msgspec


class CamelStruct(msgspec.Struct, rename="camel", kw_only=True):
    """JSON bodies are camelCase on the wire, snake_case in Python."""
