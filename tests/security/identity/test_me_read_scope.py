"""The one-statement read behind ``GET /v1/me`` is still filtered by row-level security."""

from __future__ import annotations

import uuid

import pytest

from api.identity import repository
from api.identity.tables import User
from tests.integration.identity.support import IdentityClient, bearer, login, runtime_of, seed_tenant

pytestmark = pytest.mark.security


async def test_the_single_statement_read_sees_only_the_given_tenant(client: IdentityClient) -> None:
    tenant_a = await seed_tenant(client)
    tenant_b = await seed_tenant(client, members=(("bia", "MEMBER"),))
    bia = tenant_b.users["bia"].user_id

    own = await repository.read_user_in_tenant(tenant_b.tenant_id, bia)
    # Claiming another tenant (a forged or confused token) finds nothing, not B's row.
    crossed = await repository.read_user_in_tenant(tenant_a.tenant_id, bia)

    assert own is not None
    assert (own.user_id, own.tenant_id) == (bia, tenant_b.tenant_id)
    assert crossed is None
    assert await repository.read_user_in_tenant(tenant_b.tenant_id, uuid.uuid4()) is None


async def test_row_level_security_alone_filters_the_lateral_read(client: IdentityClient) -> None:
    """Without the explicit tenant filter, only the set_config before the scan keeps B hidden."""
    tenant_a = await seed_tenant(client)
    tenant_b = await seed_tenant(client, members=(("bia", "MEMBER"),))
    bia = tenant_b.users["bia"].user_id
    unfiltered = repository._USER_IN_TENANT_SQL.replace("users.tenant_id = $1::uuid AND ", "")
    assert unfiltered != repository._USER_IN_TENANT_SQL

    pool = runtime_of(client).engine.pool
    async with pool.acquire() as connection:
        role = await connection.fetchval("SELECT current_user")
        seen_by_b = await connection.fetchrow(unfiltered, str(tenant_b.tenant_id), bia)
        seen_by_a = await connection.fetchrow(unfiltered, str(tenant_a.tenant_id), bia)
        # The tenant was local to each statement: the connection goes back to the pool clean.
        left_over = await connection.fetchval("SELECT current_setting('app.tenant_id', true)")
        visible_now = await connection.fetchval("SELECT count(*) FROM users")

    assert role == "identity_app"
    assert seen_by_b is not None
    assert seen_by_b["user_id"] == bia
    assert seen_by_a is None
    assert left_over in (None, "")
    assert visible_now == 0


async def test_get_me_answers_each_caller_with_their_own_record(client: IdentityClient) -> None:
    tenant_a = await seed_tenant(client)
    tenant_b = await seed_tenant(client)
    a_owner = await login(client, tenant_a.slug, tenant_a.owner.email)
    b_owner = await login(client, tenant_b.slug, tenant_b.owner.email)

    for _ in range(2):  # the second round is answered from the verified-token cache
        me_a = (await client.get("/v1/me", headers=bearer(a_owner))).json()
        me_b = (await client.get("/v1/me", headers=bearer(b_owner))).json()
        assert (me_a["userId"], me_a["tenantId"]) == (str(tenant_a.owner.user_id), str(tenant_a.tenant_id))
        assert (me_b["userId"], me_b["tenantId"]) == (str(tenant_b.owner.user_id), str(tenant_b.tenant_id))
    assert await User.select(User.user_id) == []  # and outside a tenant scope nothing is visible
