"""The realtime live rooms as the benchmark serves them: one uvicorn process per instance.

Everything is the production code path (`build_live_rooms`, the kernel's app factory with its
authentication, logging and metrics middleware, uvicorn with `mrbill serve`'s options) except the
dojo records: `StandInRoomAccess` admits every holder of a token of the benchmark's key to any
dojo as a participant, so no PostgreSQL is needed. The key comes as a JWKS file named by
``MRBILL_BENCH_JWKS``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from uuid import UUID

from joserfc.jwk import KeySet
from litestar import Litestar

from api.common.app import create_service_app
from api.common.auth import StaticKeySet, TokenClaims, ValkeyDenylist
from api.common.settings import Settings
from api.common.valkey import create_valkey
from realtime.live import build_live_rooms
from realtime.ports import Admission

BENCH_INITIAL_CODE = "# dojo\n"


class StandInRoomAccess:
    """Admits everyone to every dojo as a participant (the benchmark measures the rooms only)."""

    async def admit(self, claims: TokenClaims, dojo_id: UUID) -> Admission:
        return Admission(
            tenant_id=claims.tenant_id,
            dojo_id=dojo_id,
            user_id=claims.user_id,
            display_name="bench",
            role="PARTICIPANT",
            facilitator=False,
            status="ACTIVE",
            language="python",
            initial_code=BENCH_INITIAL_CODE,
        )

    async def touch(self, admission: Admission) -> None:
        return None


def create_bench_app() -> Litestar:
    settings = Settings()
    jwks = json.loads(Path(os.environ["MRBILL_BENCH_JWKS"]).read_text())
    key_set = StaticKeySet(KeySet.import_key_set(jwks))
    valkey = create_valkey(settings)
    denylist = ValkeyDenylist(valkey)
    runtime = build_live_rooms(settings, access=StandInRoomAccess(), key_set=key_set, denylist=denylist)

    async def close_valkey() -> None:
        await valkey.aclose()

    return create_service_app(
        service="realtime",
        settings=settings,
        route_handlers=runtime.route_handlers,
        key_set=key_set,
        denylist=denylist,
        lifespan=[runtime.lifespan],
        on_shutdown=[close_valkey],
    )
