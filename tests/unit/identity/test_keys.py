"""Signing keys on disk: private files, thumbprint kids, rotation keeping the previous key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc import jwt

from api.identity.keys import PUBLISHED_KEYS, LocalKeySetProvider, SigningKeyStore

pytestmark = pytest.mark.unit


def test_the_first_start_creates_one_private_key_file(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    store = SigningKeyStore(keys_dir)
    store.ensure()
    store.ensure()

    [key_file] = list(keys_dir.glob("*.jwk.json"))
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert oct(keys_dir.stat().st_mode & 0o777) == "0o700"
    document = json.loads(key_file.read_text())
    assert (document["kty"], document["crv"], document["alg"], document["use"]) == (
        "OKP",
        "Ed25519",
        "Ed25519",
        "sig",
    )
    signing = store.signing_key()
    assert signing.kid == signing.key.thumbprint() == document["kid"]
    [public] = store.public_keys()
    assert "d" not in public
    assert public["kid"] == signing.kid


def test_rotation_publishes_the_new_and_the_previous_key_only(tmp_path: Path) -> None:
    store = SigningKeyStore(tmp_path)
    store.ensure()
    first = store.signing_key()
    second = store.rotate()
    assert store.signing_key().kid == second.kid != first.kid
    assert [key["kid"] for key in store.public_keys()] == [second.kid, first.kid]
    third = store.rotate()
    assert [key["kid"] for key in store.public_keys()] == [third.kid, second.kid]
    assert len(list(tmp_path.glob("*.jwk.json"))) == PUBLISHED_KEYS


async def test_another_process_rotating_is_seen_without_a_restart(tmp_path: Path) -> None:
    serving, operator = SigningKeyStore(tmp_path), SigningKeyStore(tmp_path)
    serving.ensure()
    old_kid = serving.signing_key().kid
    token = jwt.encode(
        {"alg": "Ed25519", "kid": old_kid}, {"sub": "x"}, serving.signing_key().key, algorithms=["Ed25519"]
    )

    rotated = operator.rotate()

    assert serving.signing_key().kid == rotated.kid
    key_set = await LocalKeySetProvider(serving).key_set()
    assert jwt.decode(token, key_set.get_by_kid(old_kid), algorithms=["Ed25519"]).claims == {"sub": "x"}
    assert all(not key.is_private for key in key_set)
