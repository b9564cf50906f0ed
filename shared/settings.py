"""Runtime settings, read from the environment (prefix SPEAKUP_) by `get_settings()`.

Nothing reads settings at import time: factories take a `Settings` and pass values on to
constructors. Every key here is an environment variable `SPEAKUP_<KEY>` (deploy/ uses these names;
a test reads both and checks they agree).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPEAKUP_", extra="ignore", frozen=True)

    # -- where things live
    redis_url: str = "redis://127.0.0.1:6379/0"
    storage_backend: Literal["s3", "local"] = "local"
    local_storage_dir: Path = Path("var/storage")
    s3_bucket: str = "speakup"
    s3_endpoint_url: str | None = None
    s3_public_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    bucket_lifecycle_days: int = Field(2, ge=1)

    # -- the api
    public_base_url: str = "http://127.0.0.1:8000"
    signing_secret: SecretStr = SecretStr("dev-only-change-me-0123456789abcdef")
    max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1024)
    upload_url_expiry_s: int = Field(900, ge=10, le=7 * 24 * 3600)
    download_url_expiry_s: int = Field(300, ge=10, le=24 * 3600)
    create_rate_per_minute: int = Field(60, ge=1)
    allowed_content_types: tuple[str, ...] = (
        "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/flac", "audio/x-flac",
        "audio/mpeg", "audio/mp3", "audio/mp4", "audio/x-m4a", "audio/m4a", "audio/aac",
        "audio/ogg", "audio/opus", "audio/webm", "video/webm", "video/mp4", "video/quicktime",
        "video/x-matroska", "application/octet-stream",
    )

    # -- retention (privacy): nothing is kept longer than these
    job_ttl_s: int = Field(24 * 3600, ge=1)
    upload_ttl_s: int = Field(3600, ge=1)
    download_grace_s: int = Field(600, ge=0)
    tombstone_ttl_s: int = Field(7 * 24 * 3600, ge=1)
    cleanup_interval_s: float = Field(30.0, gt=0)
    purge_batch_size: int = Field(100, ge=1)

    # -- workers
    max_duration_s: float = Field(3 * 3600.0, gt=0)
    max_decode_s: float = Field(600.0, gt=0)
    task_soft_time_limit_base_s: float = Field(120.0, gt=0)
    task_time_limit_per_audio_s: float = Field(1.0, gt=0)
    broker_visibility_timeout_s: int = Field(4 * 3600, ge=10)
    max_redeliveries: int = Field(3, ge=1)
    stuck_job_timeout_s: float = Field(6 * 3600.0, gt=0)
    worker_heartbeat_file: Path | None = None
    enhance_block_s: float = Field(30.0, ge=2.0)
    webhook_allow_private: bool = False
    webhook_timeout_s: float = Field(5.0, gt=0)
    webhook_max_attempts: int = Field(5, ge=1)

    # -- defaults for job options
    default_engine: str = "auto"
    default_upsampler: str = "auto"

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        # Celery's broker needs a TCP URL, so unix sockets are not offered.
        if not value.startswith(("redis://", "rediss://")):
            raise ValueError("redis_url must start with redis:// or rediss://")
        return value

    @model_validator(mode="after")
    def _s3_complete(self) -> Settings:
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("storage_backend=s3 needs s3_bucket")
        if len(self.signing_secret.get_secret_value()) < 16:
            raise ValueError("signing_secret must be at least 16 characters")
        _, longest_hard_s = self.task_time_limits(self.max_duration_s)
        if longest_hard_s >= self.broker_visibility_timeout_s:
            # a task still running when the broker's visibility timeout passes is delivered again
            raise ValueError(
                f"broker_visibility_timeout_s ({self.broker_visibility_timeout_s}) must exceed the "
                f"hard time limit of the longest input ({longest_hard_s:.0f} s)")
        return self

    def task_time_limits(self, duration_s: float) -> tuple[float, float]:
        """(soft, hard) limits for a stage on `duration_s` seconds of audio."""
        soft = self.task_soft_time_limit_base_s + self.task_time_limit_per_audio_s * duration_s
        return soft, soft * 1.25 + 30.0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, built once from the environment."""
    return Settings()
