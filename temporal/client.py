"""The one way to reach Temporal: the settings' address and namespace, the shared converter."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.service import RPCError

from api.common.settings import Settings
from temporal.converter import data_converter


async def connect_client(settings: Settings, *, wait_seconds: float = 0.0) -> Client:
    """Connect; with `wait_seconds`, keep trying that long (a worker started beside the server)."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        try:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                data_converter=data_converter,
            )
        except (RPCError, RuntimeError, OSError):
            if asyncio.get_running_loop().time() >= deadline:
                raise
            await asyncio.sleep(0.5)
