"""The baseline: a bare ASGI handler doing the same RLS-scoped read with asyncpg, no framework.

It trusts a fixed tenant and user (no token check), so the ratio against the real
`GET /v1/me` is the whole cost of the framework, JWT verification and the ORM.
"""

from __future__ import annotations

import json
import os
from typing import Any

import asyncpg

_pool: asyncpg.Pool | None = None
TENANT_ID = os.environ.get("BENCH_TENANT_ID", "")
USER_ID = os.environ.get("BENCH_USER_ID", "")
DSN = os.environ.get("BENCH_DSN", "")
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "10"))

QUERY = (
    "SELECT user_id, tenant_id, email, full_name, role, locale, status, created_at,"
    " updated_at, last_login_at FROM users WHERE user_id = $1"
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _pool = await asyncpg.create_pool(DSN, min_size=POOL_SIZE, max_size=POOL_SIZE)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _pool is not None:
                    await _pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert _pool is not None
    async with _pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT set_config('app.tenant_id', $1, true)", TENANT_ID)
        row = await connection.fetchrow(QUERY, USER_ID)
    body = json.dumps({key: str(value) for key, value in dict(row).items()}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
