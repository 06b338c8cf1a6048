"""The same per-module content app as the integration tests: real stack, application role."""

from __future__ import annotations

from tests.integration.content.conftest import client, mint, settings, temporal

__all__ = ["client", "mint", "settings", "temporal"]
