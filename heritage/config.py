"""One settings object, read from ``HERITAGE_*`` environment variables and ``.env``.

Defaults give an embedded instance in one data directory: SQLite, local disk,
a SQLite-backed job queue. Every setting is documented in ``docs/configuration.md``
(a test keeps the two in step).
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SUPPORTED_LANGUAGES = ("en", "de", "fr")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HERITAGE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(
        default=Path("./data"),
        description="Directory holding the embedded database, job queue, keys and files.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Unset: SQLite in the data directory. "
        "PostgreSQL: postgresql+psycopg://user:password@host/db",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL for the job queue (redis://host:6379/0). "
        "Unset: embedded SQLite queue.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key signing sessions and CSRF tokens. Unset: generated once and kept in "
        "DATA_DIR/secret_key.",
        repr=False,
    )
    key_manager: str = Field(
        default="local",
        description="Key-management backend wrapping the workspaces' data keys.",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Master key for the local key manager: base64 of 32 bytes. Unset: "
        "DATA_DIR/keys/master.key, created on first use.",
    )
    store_backend: str = Field(
        default="local",
        description="Where the OCFL storage root lives: local (a directory) or s3.",
    )
    storage_root: Path | None = Field(
        default=None,
        description="Directory of the local OCFL storage root. Unset: DATA_DIR/ocfl.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint, e.g. https://s3.example.org. Unset: AWS."
    )
    s3_bucket: str | None = Field(default=None, description="Bucket of the S3 storage root.")
    s3_prefix: str = Field(default="", description="Key prefix of the storage root in the bucket.")
    s3_region: str = Field(default="us-east-1", description="S3 region name.")
    s3_access_key_id: str | None = Field(default=None, description="S3 access key id.")
    s3_secret_access_key: SecretStr | None = Field(
        default=None, description="S3 secret access key."
    )
    replica_root: str | None = Field(
        default=None,
        description="A second storage root that every version is copied to and that fixity "
        "repairs from: a directory, or s3://bucket/prefix on the same S3 service.",
    )
    upload_max_bytes: int = Field(
        default=1 << 40, ge=1, description="Largest file one upload may announce."
    )
    upload_expiry_hours: int = Field(
        default=72, ge=1, description="Unfinished uploads are deleted after this long."
    )
    fixity_bytes_per_second: int = Field(
        default=0, ge=0, description="Rate limit of the fixity audit; 0 for none."
    )
    fixity_interval_days: int = Field(
        default=30, ge=1, description="How often each object's fixity is checked."
    )
    image_max_pixels: int = Field(
        default=400_000_000,
        ge=1,
        description="Largest image (width x height) derivatives are made of; larger ones "
        "are refused as possible decompression bombs.",
    )
    iiif_max_area: int = Field(
        default=25_000_000,
        ge=1,
        description="Largest image (in pixels) one IIIF Image API request may produce.",
    )
    remote_fetch_max_bytes: int = Field(
        default=1024**3,
        ge=1,
        description="Largest remote image (bytes) copied into the store on request.",
    )
    remote_fetch_timeout_seconds: int = Field(
        default=300,
        ge=1,
        le=24 * 3600,
        description="Time limit of copying one remote image, all its requests together.",
    )
    remote_fetch_allow_private: bool = Field(
        default=False,
        description="Let copies of remote images reach private, loopback and link-local "
        "addresses (off: a guard against server-side request forgery).",
    )
    base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public URL of the instance, used in links such as invitations.",
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Send cookies only over HTTPS. Unset: on when BASE_URL starts with https://.",
    )
    session_lifetime_hours: int = Field(default=12, ge=1, le=24 * 90)
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins allowed per account and address per window."
    )
    login_lockout_minutes: int = Field(default=15, ge=1)
    invitation_lifetime_days: int = Field(default=14, ge=1, le=365)
    token_default_days: int = Field(default=90, ge=1, le=3650)
    password_memory_kib: int = Field(
        default=65536,
        ge=1024,
        description="argon2id memory cost in KiB for new password hashes (RFC 9106 default).",
    )
    default_language: Literal["en", "de", "fr"] = "en"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = Field(default=False, description="Write logs as JSON lines.")
    queue: Literal["auto", "sqlite", "redis", "immediate"] = Field(
        default="auto",
        description="Job queue backend. auto: redis when REDIS_URL is set, else sqlite. "
        "immediate runs jobs inside the calling process (tests, one-off scripts).",
    )
    search_backend: Literal["tantivy", "postgresql"] = Field(
        default="tantivy",
        description="Search engine. tantivy: an index in DATA_DIR/search (one machine). "
        "postgresql: tables in the instance's PostgreSQL database (several application "
        "servers share it); needs a PostgreSQL DATABASE_URL.",
    )
    map_tiles: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        max_length=500,
        description="Base map of the search page: a tile URL template ({z}/{x}/{y}) that "
        "visitors' browsers load. Empty: the map shows the records without a base map.",
    )
    map_attribution: str = Field(
        default="© OpenStreetMap contributors",
        max_length=300,
        description="Credit line the tile provider asks for, shown on the map.",
    )
    embedded_worker: bool = Field(
        default=True,
        description="`heritage serve` starts a job worker process beside the web server "
        "when no Redis is configured.",
    )
    worker_threads: int = Field(default=2, ge=1, le=64)
    auto_migrate: bool = Field(
        default=True, description="Apply database migrations when the server starts."
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value.rstrip("/")

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'heritage.sqlite3'}"

    @property
    def uses_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def queue_backend(self) -> str:
        if self.queue != "auto":
            return self.queue
        return "redis" if self.redis_url else "sqlite"

    @model_validator(mode="after")
    def _redis_queue_needs_url(self) -> Settings:
        if self.queue == "redis" and not self.redis_url:
            raise ValueError("HERITAGE_QUEUE=redis needs HERITAGE_REDIS_URL to be set")
        return self

    @model_validator(mode="after")
    def _postgresql_search_needs_postgresql(self) -> Settings:
        if self.search_backend == "postgresql" and self.uses_sqlite:
            raise ValueError(
                "HERITAGE_SEARCH_BACKEND=postgresql needs a PostgreSQL HERITAGE_DATABASE_URL"
            )
        return self

    @model_validator(mode="after")
    def _s3_store_needs_bucket(self) -> Settings:
        uses_s3 = self.store_backend == "s3" or (self.replica_root or "").startswith("s3://")
        if self.store_backend == "s3" and not self.s3_bucket:
            raise ValueError("HERITAGE_STORE_BACKEND=s3 needs HERITAGE_S3_BUCKET to be set")
        if uses_s3 and not (self.s3_access_key_id and self.s3_secret_access_key):
            raise ValueError(
                "S3 storage needs HERITAGE_S3_ACCESS_KEY_ID and HERITAGE_S3_SECRET_ACCESS_KEY"
            )
        return self

    @property
    def resolved_storage_root(self) -> Path:
        return (self.storage_root or self.resolved_data_dir / "ocfl").expanduser().resolve()

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.base_url.startswith("https://")

    def ensure_data_dir(self) -> Path:
        path = self.resolved_data_dir
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def signing_key(self) -> str:
        """The secret key, generated on first use for an embedded instance."""
        if self.secret_key:
            return self.secret_key
        key_file = self.ensure_data_dir() / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        key = secrets.token_urlsafe(48)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        # Errors about several settings together name the variables in their message.
        lines.append(f"HERITAGE_{field.upper()}: {item['msg']}" if field else item["msg"])
    return "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings, raising :class:`ConfigError` naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(f"Invalid configuration: {_describe(error)}") from None
