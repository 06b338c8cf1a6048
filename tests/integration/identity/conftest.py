"""One identity app per test module, over the session's real PostgreSQL, Valkey and Temporal."""

from tests.integration.identity.support import client, fresh_throttle, settings

__all__ = ["client", "fresh_throttle", "settings"]
