"""Identity's Ed25519 signing keys, kept as private JWK files, and the JWKS built from them.

Each key lives in its own file under ``settings.keys_dir`` (folder 0700, files 0600) named
by creation time, so the newest key signs while the one before it is still published until
every token it signed has expired. The ``kid`` is the RFC 7638 thumbprint, so the same key
always has the same id on every instance. Several processes (uvicorn workers, the operator
CLI) share the folder: each reloads when the folder changes and a file lock guards creation.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from joserfc.jwk import KeySet, OKPKey

from api.common.settings import Settings

SIGNING_ALGORITHM: Final = "Ed25519"
"""The fully specified JOSE name of EdDSA over Ed25519 (RFC 9864)."""

PUBLISHED_KEYS = 2
"""The signing key plus the one before it: rotation never invalidates a live token."""

_KEY_FILE_GLOB = "signing-*.jwk.json"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: OKPKey
    created_ns: int


class SigningKeyStore:
    """The key files of one folder, reloaded whenever the folder changes."""

    def __init__(self, keys_dir: Path) -> None:
        self._dir = keys_dir
        self._loaded_mtime_ns: int | None = None
        self._keys: list[SigningKey] = []
        self._public_key_set: KeySet = KeySet([])

    @classmethod
    def from_settings(cls, settings: Settings) -> SigningKeyStore:
        return cls(settings.keys_dir)

    # -- public interface ------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the folder and a first key when there is none (first start)."""
        with self._exclusive_lock():
            if not self._key_files():
                self._write_new_key()
        self.reload(force=True)

    def signing_key(self) -> SigningKey:
        self.reload()
        if not self._keys:
            self.ensure()
        return self._keys[0]

    def public_keys(self) -> list[dict[str, Any]]:
        self.reload()
        return [dict(signing.key.as_dict(private=False)) for signing in self._keys[:PUBLISHED_KEYS]]

    def public_key_set(self) -> KeySet:
        self.reload()
        return self._public_key_set

    def rotate(self) -> SigningKey:
        """Add a new signing key and retire the keys no longer published."""
        with self._exclusive_lock():
            self._write_new_key()
            for retired in self._key_files()[PUBLISHED_KEYS:]:
                retired.unlink(missing_ok=True)
        self.reload(force=True)
        return self._keys[0]

    # -- files -------------------------------------------------------------------------------
    def _key_files(self) -> list[Path]:
        """Newest first: names carry the creation time in nanoseconds, zero-padded."""
        if not self._dir.exists():
            return []
        return sorted(self._dir.glob(_KEY_FILE_GLOB), reverse=True)

    @contextmanager
    def _exclusive_lock(self) -> Iterator[None]:
        self._dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self._dir, 0o700)
        lock_path = self._dir / ".lock"
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)

    def _write_new_key(self) -> None:
        key = OKPKey.generate_key(
            "Ed25519", parameters={"alg": SIGNING_ALGORITHM, "use": "sig"}, auto_kid=True
        )
        created_ns = time.time_ns()
        path = self._dir / f"signing-{created_ns:020d}.jwk.json"
        document = json.dumps(key.as_dict(private=True), sort_keys=True).encode()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, document)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def reload(self, *, force: bool = False) -> None:
        try:
            mtime_ns = self._dir.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if not force and mtime_ns == self._loaded_mtime_ns:
            return
        keys: list[SigningKey] = []
        for path in self._key_files():
            try:
                document = json.loads(path.read_text())
            except FileNotFoundError:
                continue  # retired by another process while we listed the folder
            key = OKPKey.import_key(document)
            created_ns = int(path.name.removeprefix("signing-").split(".", 1)[0])
            keys.append(SigningKey(kid=key.thumbprint(), key=key, created_ns=created_ns))
        self._keys = keys
        self._public_key_set = KeySet(
            [OKPKey.import_key(signing.key.as_dict(private=False)) for signing in keys[:PUBLISHED_KEYS]]
        )
        self._loaded_mtime_ns = mtime_ns


class LocalKeySetProvider:
    """Identity checks its own tokens from the key files, with no HTTP call to itself."""

    def __init__(self, store: SigningKeyStore) -> None:
        self._store = store

    async def key_set(self, *, refresh: bool = False) -> KeySet:
        if refresh:
            self._store.reload(force=True)
        return self._store.public_key_set()


def rotate_signing_key(settings: Settings) -> SigningKey:
    """Operator command: start signing with a new key; the previous one stays published."""
    store = SigningKeyStore.from_settings(settings)
    store.ensure()
    return store.rotate()
