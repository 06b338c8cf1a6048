"""The same per-module catalog app as the integration tests: real stack, application role."""

from __future__ import annotations

from tests.integration.catalog.conftest import client, mint, settings

__all__ = ["client", "mint", "settings"]
