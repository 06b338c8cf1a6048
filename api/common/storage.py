"""Object storage behind one small port: the local filesystem in dev and tests, S3 in production.

Keys are S3-style ("tenants/{tenantId}/branding.json"): "/"-separated, relative, and
prefixes are plain string prefixes. Every delete is idempotent, because saga compensations
and retried activities call them more than once.

Signed URLs let a browser fetch one object for a limited time without a session. The local
store signs ``key`` and the expiry with HMAC-SHA256; whoever serves ``/storage/...`` checks
them with `LocalBlobStorage.verify_signed` before reading the file (`api.common.files`). A link
may also name the file a browser saves (``filename``): it is signed too, so nobody can hand out
a link to a tenant's report under a misleading name.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import quote, urlencode

from api.common.settings import Settings

SIGNING_KEY_FILE = "storage-signing.key"
"""Under ``settings.keys_dir``: Settings has no storage secret, so one is made on first use."""


class BlobNotFoundError(LookupError):
    """The key names no object."""


class InvalidBlobKeyError(ValueError):
    """The key could escape the store or is not a well-formed S3-style key."""


class BlobStorage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> int: ...

    async def exists(self, key: str) -> bool: ...

    async def list(self, prefix: str) -> builtins.list[str]: ...

    def sign_url(self, key: str, expires_in: int, *, filename: str | None = None) -> str: ...


def validate_key(key: str) -> str:
    """Reject keys that could leave the store's root once joined to a filesystem path."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidBlobKeyError(f"invalid storage key: {key!r}")
    parts = PurePosixPath(key).parts
    if any(part in {"", ".", ".."} for part in parts) or key.endswith("/") or "//" in key:
        raise InvalidBlobKeyError(f"invalid storage key: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """A prefix is a key's beginning; an empty one would mean "everything" and is refused."""
    if not prefix:
        raise InvalidBlobKeyError("an empty prefix would match every object")
    validate_key(prefix.rstrip("/") or "/")
    return prefix


def load_or_create_signing_key(path: Path) -> bytes:
    """Read the signing secret, creating it once; concurrent processes agree on one file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    return key


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class LocalBlobStorage:
    """Objects as files under `root`; writes are atomic (temp file, then rename)."""

    def __init__(self, root: Path, signing_key: bytes, base_url: str = "/storage") -> None:
        if len(signing_key) < 16:
            raise ValueError("the signing key must be at least 16 bytes")
        self.root = root.resolve()
        self._signing_key = signing_key
        self._base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidBlobKeyError(f"invalid storage key: {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        await asyncio.to_thread(self._write, path, data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise BlobNotFoundError(key) from exc

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(self._delete_file, path)

    def _delete_file(self, path: Path) -> None:
        if path.is_file():
            path.unlink(missing_ok=True)
            self._prune_empty_parents(path.parent)

    def _prune_empty_parents(self, folder: Path) -> None:
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    async def delete_prefix(self, prefix: str) -> int:
        keys = await self.list(prefix)
        await asyncio.to_thread(self._delete_many, keys)
        return len(keys)

    def _delete_many(self, keys: builtins.list[str]) -> None:
        for key in keys:
            self._delete_file(self._path(key))

    async def exists(self, key: str) -> bool:
        path = self._path(key)
        return await asyncio.to_thread(path.is_file)

    async def list(self, prefix: str) -> builtins.list[str]:
        validate_prefix(prefix)
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[str]:
        folder_key = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        folder = self.root / folder_key if folder_key else self.root
        if not folder.is_dir():
            return []
        keys: list[str] = []
        for directory, _subdirectories, files in os.walk(folder):
            for name in files:
                if name.startswith(".") and name.endswith(".tmp"):
                    continue
                key = (Path(directory) / name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def _signature(self, key: str, expires: int, filename: str | None = None) -> str:
        # Links without a file name sign exactly what they always did, so old links stay valid.
        message = f"{key}\n{expires}" if filename is None else f"{key}\n{expires}\n{filename}"
        return _b64url(hmac.new(self._signing_key, message.encode(), hashlib.sha256).digest())

    def sign_url(self, key: str, expires_in: int, *, filename: str | None = None) -> str:
        """A link valid `expires_in` seconds; `filename` (signed too) names the file a browser saves."""
        if expires_in <= 0:
            raise ValueError("expires_in must be positive")
        validate_key(key)
        expires = int(time.time()) + expires_in
        query: dict[str, str | int] = {"expires": expires}
        if filename is not None:
            query["filename"] = filename
        query["signature"] = self._signature(key, expires, filename)
        encoded = urlencode(query, safe="", quote_via=quote)
        return f"{self._base_url}/{quote(key)}?{encoded}"

    def verify_signed(
        self,
        key: str,
        expires: int,
        signature: str,
        *,
        now: float | None = None,
        filename: str | None = None,
    ) -> bool:
        """True only for an untampered, unexpired link to a well-formed key (and its file name)."""
        try:
            validate_key(key)
        except InvalidBlobKeyError:
            return False
        if (time.time() if now is None else now) >= expires:
            return False
        return hmac.compare_digest(self._signature(key, expires, filename), signature)


def local_blob_storage(settings: Settings) -> LocalBlobStorage:
    """The store every dev/test process shares, signed with the key kept under ``var/keys``."""
    signing_key = load_or_create_signing_key(settings.keys_dir / SIGNING_KEY_FILE)
    base_url = f"http://{settings.edge_host}:{settings.edge_port}/storage"
    return LocalBlobStorage(settings.storage_dir, signing_key, base_url=base_url)
