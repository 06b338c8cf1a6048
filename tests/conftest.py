"""The test session starts real PostgreSQL, Valkey and Temporal on free ports of its own.

Nothing is shared with a running `make dev`: data lives in a temporary folder that is removed
afterwards, and every setting reaches the code through the same ``MRBILL_*`` variables.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.common.settings import SERVICES, Settings
from infra.database import migrate
from infra.stack import free_port, running_stack


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    var_dir = Path(tempfile.mkdtemp(prefix="mrbill-test-"))
    os.chmod(var_dir, 0o755)  # noqa: S103 - PostgreSQL runs as another user when root
    env = {
        "MRBILL_ENVIRONMENT": "test",
        "MRBILL_VAR_DIR": str(var_dir),
        "MRBILL_PG_PORT": str(free_port()),
        "MRBILL_VALKEY_URL": f"redis://127.0.0.1:{free_port()}/0",
        "MRBILL_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "MRBILL_TEMPORAL_UI_PORT": str(free_port()),
        "MRBILL_LOG_JSON": "false",
        # Cheap hashes keep the suite fast; production parameters are measured in bench/.
        "MRBILL_ARGON2_TIME_COST": "1",
        "MRBILL_ARGON2_MEMORY_COST_KIB": "1024",
        "MRBILL_ARGON2_PARALLELISM": "1",
    }
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    settings = Settings()
    try:
        with running_stack(settings):
            for service in SERVICES:
                asyncio.run(migrate(settings, service))
            yield settings
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(var_dir, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the e2e tests last: they start whole platforms of their own beside the session's stack,
    and the rest of the suite should not depend on how those end."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
