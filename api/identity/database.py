"""The identity database as the application role: one Piccolo engine and pool per process.

Piccolo binds each table class to one engine for the whole process, and a query only joins
a transaction opened on that same engine. So every user of the identity tables in a process
(the API, an operator command, tests running several apps) shares one engine; its pool
opens with the first user and closes with the last.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from api.common.settings import Settings
from api.identity.tables import IDENTITY_TABLES


@dataclass
class IdentityDatabase:
    engine: PostgresEngine
    dsn: str
    users: int = 0


POOL_CLOSE_TIMEOUT_SECONDS = 10.0

_shared: IdentityDatabase | None = None
_lock = asyncio.Lock()


def _bind(engine: Any) -> None:
    for table in IDENTITY_TABLES:
        table._meta.db = engine


@asynccontextmanager
async def identity_database(
    settings: Settings, *, engine: Any | None = None
) -> AsyncIterator[IdentityDatabase]:
    """The process's identity engine, with a running pool, for as long as the block lasts.

    Passing `engine` (tests, benchmarks) uses that one instead, without touching its pool.
    """
    global _shared
    if engine is not None:
        _bind(engine)
        yield IdentityDatabase(engine=engine, dsn="", users=1)
        return
    dsn = settings.database_url("identity")
    async with _lock:
        if _shared is not None and _shared.dsn != dsn:
            raise RuntimeError("one process serves one identity database; another one is already open")
        if _shared is None:
            created = PostgresEngine(config={"dsn": dsn}, log_queries=False)
            await created.start_connection_pool(min_size=settings.db_pool_min, max_size=settings.db_pool_max)
            _shared = IdentityDatabase(engine=created, dsn=dsn)
        _shared.users += 1
        database = _shared
        _bind(database.engine)
    try:
        yield database
    finally:
        async with _lock:
            database.users -= 1
            if database.users == 0:
                await _close_pool(database.engine)
                if _shared is database:
                    _shared = None


async def _close_pool(engine: PostgresEngine) -> None:
    """Close gracefully, but never hang a shutdown on a connection someone forgot to release."""
    pool = engine.pool
    if pool is None:
        return
    try:
        await asyncio.wait_for(pool.close(), POOL_CLOSE_TIMEOUT_SECONDS)
    except TimeoutError:
        pool.terminate()
    engine.pool = None
