"""Repository URLs and the indexing requests a unit of work hands over."""

from __future__ import annotations

import uuid

import pytest

from api.catalog.indexing import latest_requests
from api.catalog.service import Actor, repository_url_error
from workflows.poc_indexing_types import PocIndexRequest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/maria/poc",
        "http://gitlab.local:8080/group/project",
        "HTTPS://EXAMPLE.COM",
        "https://[::1]/repo",
    ],
)
def test_http_and_https_urls_with_a_host_are_accepted(url: str) -> None:
    assert repository_url_error(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://example.com/x",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://",
        "https:///path",
        "github.com/maria/poc",
        "https://exa mple.com",
        "https://example.com/\x00",
        "https://user:pass@example.com/",
        "https://example.com:99999/",
        "https://" + "a" * 250 + ".com",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    assert repository_url_error(url) is not None


def test_one_request_per_poc_with_its_highest_version() -> None:
    requests = [
        PocIndexRequest("t", "a", 1),
        PocIndexRequest("t", "b", 4),
        PocIndexRequest("t", "a", 3),
        PocIndexRequest("t", "a", 2),
        PocIndexRequest("u", "a", 1),
    ]
    assert latest_requests(requests) == [
        PocIndexRequest("t", "a", 3),
        PocIndexRequest("t", "b", 4),
        PocIndexRequest("u", "a", 1),
    ]


@pytest.mark.parametrize(
    ("roles", "manager"),
    [(("MEMBER",), False), (("ADMIN",), True), (("OWNER",), True), (("SUPERADMIN",), True), ((), False)],
)
def test_managers_are_owners_admins_and_superadmins(roles: tuple[str, ...], manager: bool) -> None:
    assert Actor(user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), roles=roles).is_manager is manager
