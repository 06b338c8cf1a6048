"""Live room tests over the session's real Valkey; each test starts the instances it needs.

The Node client's packages (yjs, y-websocket, ws) are installed once with ``npm ci`` from the
committed package-lock.json into ``var/cache/realtime-live-node/<lock hash>/`` and reused by
later sessions while the lock file is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from api.common.settings import Settings
from tests.integration.realtime_live.support import StandInRoomAccess, TokenMint

NODE_SOURCE = Path(__file__).parent / "node"
REPOSITORY = Path(__file__).resolve().parents[3]
NODE_CACHE = REPOSITORY / "var" / "cache" / "realtime-live-node"
NPM_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module")
def settings(stack_settings: Settings) -> Settings:
    return stack_settings


@pytest.fixture(scope="module")
def mint(settings: Settings) -> TokenMint:
    return TokenMint(settings)


@pytest.fixture
def access() -> StandInRoomAccess:
    return StandInRoomAccess()


def _copy_atomically(source: Path, target: Path) -> None:
    staging = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.copyfile(source, staging)
    os.replace(staging, target)


@pytest.fixture(scope="session")
def node_client_dir() -> Path:
    """A folder with client.mjs beside the node_modules of the committed lock file."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip("Node.js and npm are needed for the Node Yjs client")
    manifest = (NODE_SOURCE / "package.json").read_bytes()
    lock = (NODE_SOURCE / "package-lock.json").read_bytes()
    target = NODE_CACHE / hashlib.sha256(manifest + lock).hexdigest()[:16]
    if not (target / "node_modules" / ".installed").exists():
        NODE_CACHE.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="install-", dir=NODE_CACHE))
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(NODE_SOURCE / name, staging / name)
        subprocess.run(  # noqa: S603 - npm from PATH with fixed arguments
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=staging,
            check=True,
            timeout=NPM_TIMEOUT_SECONDS,
        )
        (staging / "node_modules" / ".installed").touch()
        try:
            staging.rename(target)
        except OSError:  # another session installed the same lock meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    _copy_atomically(NODE_SOURCE / "client.mjs", target / "client.mjs")
    return target
