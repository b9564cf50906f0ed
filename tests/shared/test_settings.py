"""Settings come from SPEAKUP_* variables, are validated, and are built once by get_settings()."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings, get_settings


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("SPEAKUP_REDIS_URL", "redis://example:6390/2")
    monkeypatch.setenv("SPEAKUP_JOB_TTL_S", "120")
    settings = Settings()
    assert settings.redis_url == "redis://example:6390/2"
    assert settings.job_ttl_s == 120


@pytest.mark.parametrize(("key", "value"), [
    ("SPEAKUP_REDIS_URL", "http://not-redis"),
    ("SPEAKUP_STORAGE_BACKEND", "ftp"),
    ("SPEAKUP_JOB_TTL_S", "0"),
    ("SPEAKUP_SIGNING_SECRET", "short"),
    ("SPEAKUP_UPLOAD_URL_EXPIRY_S", "999999999"),
])
def test_invalid_values_are_refused(monkeypatch, key, value):
    monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError):
        Settings()


def test_secrets_do_not_print(monkeypatch):
    monkeypatch.setenv("SPEAKUP_SIGNING_SECRET", "a-very-secret-value-1234567890")
    assert "a-very-secret-value" not in repr(Settings())


def test_get_settings_is_cached_not_built_at_import():
    get_settings.cache_clear()
    first = get_settings()
    assert get_settings() is first
    get_settings.cache_clear()


def test_time_limits_scale_with_duration():
    settings = Settings()
    short_soft, short_hard = settings.task_time_limits(10)
    long_soft, long_hard = settings.task_time_limits(7200)
    assert long_soft > short_soft and long_hard > long_soft


def test_visibility_timeout_must_outlast_the_longest_task(monkeypatch):
    settings = Settings()
    _, hard = settings.task_time_limits(settings.max_duration_s)
    assert hard < settings.broker_visibility_timeout_s  # the defaults are consistent
    monkeypatch.setenv("SPEAKUP_BROKER_VISIBILITY_TIMEOUT_S", str(int(hard) - 1))
    with pytest.raises(ValidationError):
        Settings()
