"""What `make dev` tells a person at the end: where everything is and how to log in."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.common.settings import Settings
from api.identity.passwords import check_password_policy
from api.identity.service import PLATFORM_TENANT_SLUG
from infra.demo import DEMO_SUPERADMIN, DEMO_TENANT, _status_of
from infra.dev import BANNER_TITLE, render_banner

pytestmark = pytest.mark.unit


def test_banner_has_every_url_and_both_credentials(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, edge_port=41000, temporal_ui_port=41233)
    banner = render_banner(settings, color=False)
    assert BANNER_TITLE in banner
    for expected in (
        "http://127.0.0.1:41000",
        "http://127.0.0.1:41000/docs/identity/swagger",
        "http://127.0.0.1:41233",
        DEMO_TENANT.slug,
        DEMO_TENANT.admin_email,
        DEMO_TENANT.password,
        DEMO_SUPERADMIN.email,
        DEMO_SUPERADMIN.password,
    ):
        assert expected in banner
    assert "\x1b[" not in banner


def test_banner_lists_the_instances_of_a_scaled_service(tmp_path: Path) -> None:
    settings = Settings(
        var_dir=tmp_path, service_ports={"realtime": 41105}, extra_instance_ports={"realtime": (41115,)}
    )
    banner = render_banner(settings, color=False)
    assert "realtime instances" in banner
    assert "2 behind the edge (realtime :41105, realtime-2 :41115)" in banner
    assert "identity instances" not in banner


def test_demo_passwords_pass_identity_password_policy() -> None:
    check_password_policy(DEMO_TENANT.password, DEMO_TENANT.admin_email)
    check_password_policy(DEMO_SUPERADMIN.password, DEMO_SUPERADMIN.email)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": "RUNNING", "percent": 40, "currentStep": "send_welcome_email"}, ("RUNNING", 40)),
        ({"workflowId": "x", "progress": {"status": "completed", "percent": 100}}, ("COMPLETED", 100)),
        ({"status": "FAILED"}, ("FAILED", 0)),
    ],
)
def test_onboarding_progress_is_read_flat_or_nested(
    body: dict[str, object], expected: tuple[str, int]
) -> None:
    status = _status_of(body)
    assert (status.status, status.percent) == expected


def test_superadmin_tenant_is_the_one_identity_uses() -> None:
    assert DEMO_SUPERADMIN.tenant_slug == PLATFORM_TENANT_SLUG
