"""LocalBlobStorage: the dev/test object store, and its signed, expiring links."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from api.common.storage import (
    BlobNotFoundError,
    InvalidBlobKeyError,
    LocalBlobStorage,
    load_or_create_signing_key,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def storage(tmp_path: Path) -> LocalBlobStorage:
    return LocalBlobStorage(tmp_path / "storage", b"k" * 32, base_url="http://edge.test/storage")


def _signed_parts(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    key = unquote(parts.path.removeprefix("/storage/"))
    return key, int(query["expires"][0]), query["signature"][0]


async def test_put_get_exists_list_and_delete(storage: LocalBlobStorage) -> None:
    await storage.put("tenants/a/branding.json", b'{"name": "A"}', content_type="application/json")
    await storage.put("tenants/a/users/u1/avatar.png", b"png")
    await storage.put("tenants/ab/branding.json", b"other tenant")

    assert await storage.get("tenants/a/branding.json") == b'{"name": "A"}'
    assert await storage.exists("tenants/a/users/u1/avatar.png")
    assert await storage.list("tenants/a/") == ["tenants/a/branding.json", "tenants/a/users/u1/avatar.png"]
    await storage.delete("tenants/a/users/u1/avatar.png")
    assert not await storage.exists("tenants/a/users/u1/avatar.png")
    assert not (storage.root / "tenants/a/users").exists(), "empty folders are pruned"
    with pytest.raises(BlobNotFoundError):
        await storage.get("tenants/a/users/u1/avatar.png")


async def test_delete_prefix_removes_only_that_prefix_and_is_idempotent(storage: LocalBlobStorage) -> None:
    await storage.put("tenants/a/branding.json", b"a")
    await storage.put("tenants/a/users/u1/avatar.png", b"a")
    await storage.put("tenants/ab/branding.json", b"ab")

    assert await storage.delete_prefix("tenants/a/") == 2
    assert await storage.delete_prefix("tenants/a/") == 0
    await storage.delete("tenants/a/branding.json")
    assert await storage.list("tenants/") == ["tenants/ab/branding.json"]
    assert not (storage.root / "tenants" / "a").exists()


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../outside", "tenants/../../outside", "tenants//a", "tenants/a/", "a\\b"]
)
async def test_keys_that_could_escape_the_root_are_refused(storage: LocalBlobStorage, key: str) -> None:
    with pytest.raises(InvalidBlobKeyError):
        await storage.put(key, b"x")


async def test_an_empty_prefix_is_refused(storage: LocalBlobStorage) -> None:
    with pytest.raises(InvalidBlobKeyError):
        await storage.delete_prefix("")


def test_a_signed_url_verifies_until_it_expires(storage: LocalBlobStorage) -> None:
    url = storage.sign_url("tenants/a/relatório final.pdf", expires_in=60)
    assert url.startswith("http://edge.test/storage/tenants/a/")
    key, expires, signature = _signed_parts(url)

    assert key == "tenants/a/relatório final.pdf"
    assert storage.verify_signed(key, expires, signature)
    assert storage.verify_signed(key, expires, signature, now=expires - 1)
    assert not storage.verify_signed(key, expires, signature, now=expires)
    assert not storage.verify_signed(key, expires, signature, now=time.time() + 3600)


def test_a_tampered_signed_url_is_refused(storage: LocalBlobStorage) -> None:
    key, expires, signature = _signed_parts(storage.sign_url("tenants/a/report.pdf", expires_in=60))

    assert not storage.verify_signed("tenants/b/report.pdf", expires, signature)
    assert not storage.verify_signed(key, expires + 3600, signature)
    assert not storage.verify_signed(
        key, expires, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    )
    assert not storage.verify_signed("../" + key, expires, signature)
    other = LocalBlobStorage(storage.root, b"x" * 32)
    assert not other.verify_signed(key, expires, signature)


def test_sign_url_refuses_a_non_positive_lifetime(storage: LocalBlobStorage) -> None:
    with pytest.raises(ValueError, match="positive"):
        storage.sign_url("tenants/a/report.pdf", expires_in=0)


def test_the_signing_key_is_created_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "storage-signing.key"
    first = load_or_create_signing_key(path)
    second = load_or_create_signing_key(path)

    assert first == second
    assert len(first) == 32
    assert path.stat().st_mode & 0o777 == 0o600
