"""Effective configuration: ``SOUK_*`` environment variables over an optional ``souk.toml``.

Every value is validated at start; a wrong one stops the process with a message that names the variable, so a
typo in production fails loudly instead of running with a default nobody chose.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "SOUK_"


class Settings(BaseSettings):
    """Souk's configuration. Field ``x`` is read from ``SOUK_X`` or from ``x`` in ``souk.toml``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        toml_file=os.environ.get("SOUK_CONFIG_FILE", "souk.toml"),
        validate_default=True,
    )

    data_dir: Path = Field(Path(".souk"), description="Where SQLite, the secret key, NATS and Temporal keep data.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default is a SQLite file in the data directory."
    )
    host: str = Field("127.0.0.1", description="Address the API and inbox listen on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the API and inbox listen on.")
    public_url: str | None = Field(None, description="Public base URL platforms use to reach webhooks.")
    nats_url: str | None = Field(
        None, description="NATS server(s), comma separated; when unset `souk run` starts its own."
    )
    nats_replicas: int = Field(
        1, ge=1, le=5, description="Servers each JetStream stream is stored on (3 on a 3-node NATS cluster)."
    )
    temporal_address: str | None = Field(None, description="Temporal frontend; when unset `souk run` starts one.")
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    secret_key: SecretStr | None = Field(
        None, description="Master encryption key(s), comma separated, newest first; default: generated file."
    )
    env: Literal["development", "production", "test"] = Field("development", description="Deployment kind.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    log_json: bool | None = Field(None, description="JSON logs; default: JSON when stderr is not a terminal.")
    max_body_bytes: int = Field(
        3 * 1024 * 1024 + 65536, gt=0, description="Largest request body accepted (413 beyond it)."
    )
    session_max_age_seconds: int = Field(7 * 24 * 3600, gt=0, description="Web login session lifetime.")
    login_max_failures: int = Field(5, gt=0, description="Failed logins per account or IP before a lockout.")
    login_window_seconds: int = Field(900, gt=0, description="Window (and lockout) for failed logins.")
    api_rate_limit_per_minute: int = Field(
        6000, ge=0, description="Requests a minute one API key may make, per API process (0: no limit)."
    )
    api_rate_limit_burst: int = Field(1000, ge=1, description="Requests one API key may make at once.")
    workers: int = Field(1, ge=1, description="Uvicorn worker processes for `souk api`.")
    worker_metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Port `souk worker` serves its Prometheus metrics on (default: none)."
    )
    run_worker_in_process: bool = Field(True, description="`souk run` also runs the background worker.")
    demo: bool = Field(
        False, description="`souk run` also plays simulated customers on each platform (`souk simulate`)."
    )
    sweep_interval_seconds: float = Field(10.0, gt=0, description="How often sweepers look for stuck work.")
    sweep_after_seconds: float = Field(30.0, gt=0, description="Age after which unprocessed work is re-published.")
    inbound_ack_wait_seconds: float = Field(30.0, gt=0, description="Redeliver an inbound event not acked within.")
    webhook_retry_base_seconds: float = Field(
        10.0, gt=0, description="First outgoing-webhook retry delay; doubles each attempt (capped at an hour)."
    )
    automation_poll_seconds: float = Field(
        2.0, gt=0, description="How often the snooze, no-reply and webhook-delivery loops look for due work."
    )
    webhook_max_attempts: int = Field(10, ge=1, description="Outgoing-webhook attempts before a delivery is failed.")
    media_dir: Path | None = Field(None, description="Directory of the local media store; default <data_dir>/media.")
    media_store: Literal["local", "s3"] = Field("local", description="Where media bytes are kept.")
    media_max_bytes: int = Field(100 * 1024 * 1024, gt=0, description="Largest media file downloaded (bytes).")
    media_max_bytes_by_kind: dict[str, int] = Field(
        default_factory=dict, description='Limits by "<channel_type>.<kind>", "<kind>" or "<channel_type>".'
    )
    media_max_attempts: int = Field(8, ge=1, description="Download attempts before a media file is failed.")
    media_retry_base_seconds: float = Field(5.0, gt=0, description="First media retry delay; doubles each attempt.")
    media_retry_max_seconds: float = Field(600.0, gt=0, description="Cap on the media retry delay.")
    media_download_timeout_seconds: float = Field(300.0, gt=0, description="Time budget of one media download.")
    media_stale_after_seconds: float = Field(900.0, gt=0, description="When a pending download counts as lost.")
    media_sweep_interval_seconds: float = Field(30.0, gt=0, description="How often the media sweeper runs.")
    media_s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (path-style).")
    media_s3_bucket: str | None = Field(None, description="Bucket; required when media_store is s3.")
    media_s3_region: str = Field("us-east-1", description="Region used for request signing.")
    media_s3_access_key_id: str | None = Field(None, description="S3 access key id.")
    media_s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret key.")
    media_s3_prefix: str = Field("", description="Key prefix inside the bucket.")

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Settings:
        if self.media_store == "s3" and not self.media_s3_bucket:
            raise ValueError("SOUK_MEDIA_STORE=s3 needs SOUK_MEDIA_S3_BUCKET")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            v = "postgresql+asyncpg://" + v.split("://", 1)[1]
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            if v.startswith("sqlite://"):
                return "sqlite+aiosqlite://" + v.split("://", 1)[1]
            raise ValueError("use a sqlite:/// or postgresql:// URL")
        return v

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/") if v else v

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'souk.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        """The URL platforms and people reach this instance at."""
        return self.public_url or f"http://{self.host}:{self.port}"

    def masked(self) -> dict[str, Any]:
        """The effective configuration with every secret masked, for `souk config show`."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else None
            elif name == "database_url" and value and "@" in value:
                head, tail = value.split("@", 1)
                scheme, _, cred = head.partition("://")
                user = cred.split(":", 1)[0]
                value = f"{scheme}://{user}:********@{tail}" if ":" in cred else value
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        out["effective_database_url"] = out["database_url"] if self.database_url else self.effective_database_url
        return out


class ConfigError(RuntimeError):
    """A configuration value is wrong; the message names the variable to fix."""


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the configuration, turning pydantic's error into one naming ``SOUK_*`` variables."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "?"
            var = ENV_PREFIX + field.upper()
            given = err.get("input")
            lines.append(f"{var} (or `{field}` in souk.toml): {err['msg']} (got {given!r})")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
