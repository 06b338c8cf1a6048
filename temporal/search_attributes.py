"""Search attributes every workflow may set, so operators filter any tenant's jobs in the UI.

The dev server gets them from ``--search-attribute`` flags (infra/stack.py); any other
cluster gets them from `ensure_search_attributes`, which workers call at start. Workflow
code imports only the keys, never the client.
"""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
USER_ID = SearchAttributeKey.for_keyword("UserId")
REQUEST_TYPE = SearchAttributeKey.for_keyword("RequestType")

REGISTRATION_TIMEOUT_SECONDS = 30.0

SEARCH_ATTRIBUTE_KEYS: tuple[SearchAttributeKey[str], ...] = (TENANT_ID, USER_ID, REQUEST_TYPE)


async def _registered(client: Client, namespace: str) -> dict[str, IndexedValueType.ValueType]:
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return dict(response.custom_attributes)


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the missing keys as Keyword; return the names that were added.

    Registration is asynchronous on some servers, so this waits until the namespace lists
    them: a workflow upserting an attribute the server does not know yet would fail. The
    time-skipping test server can add attributes but not list them; there each key is added
    and "already exists" is taken as success.
    """
    expected = {key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTE_KEYS}
    try:
        registered = await _registered(client, namespace)
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        return [name for name, kind in expected.items() if await _add(client, namespace, {name: kind})]
    clashing = [name for name, kind in expected.items() if name in registered and registered[name] != kind]
    if clashing:
        raise RuntimeError(f"search attributes {clashing} exist with another type than Keyword")
    missing = {name: kind for name, kind in expected.items() if name not in registered}
    if not missing:
        return []
    await _add(client, namespace, missing)
    async with asyncio.timeout(REGISTRATION_TIMEOUT_SECONDS):
        while True:
            if set(missing) <= set(await _registered(client, namespace)):
                break
            await asyncio.sleep(0.2)
    return sorted(missing)


async def _add(client: Client, namespace: str, attributes: dict[str, IndexedValueType.ValueType]) -> bool:
    """False when another process registered them first."""
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=attributes)
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        return False
    return True
