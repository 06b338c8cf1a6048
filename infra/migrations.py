"""Migrations that several processes may ask for at the same moment.

Under `make dev` every service and worker migrates its database before it starts; a file
lock under var/ makes them take turns, so two processes never race to create the same role
or apply the same migration. The work itself (`infra.database`) is idempotent.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from api.common.settings import Settings
from infra.database import provision_database, run_migrations

STEPS: tuple[str, ...] = ("provision database and roles", "apply migrations")


@contextmanager
def migration_lock(settings: Settings) -> Iterator[None]:
    lock_dir = settings.var_dir.resolve() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_dir / "migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


async def migrate_service(
    settings: Settings, service: str, on_step: Callable[[str], None] | None = None
) -> None:
    """`infra.database.migrate`, step by step so a progress display can follow it."""
    if on_step:
        on_step(STEPS[0])
    await provision_database(settings, service)
    if on_step:
        on_step(STEPS[1])
    await run_migrations(settings, service)
