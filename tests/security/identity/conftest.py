"""The same running identity app as the integration tests: the app role, real RLS."""

from tests.integration.identity.support import client, fresh_throttle, settings

__all__ = ["client", "fresh_throttle", "settings"]
