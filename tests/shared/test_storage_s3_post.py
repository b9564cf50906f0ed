"""The upload form signed in `shared.storage.s3_post` is botocore's, field for field, for the same
instant (offline: no server is asked; `test_storage_s3.py` posts real files through it)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from shared.storage.s3 import S3Storage
from shared.storage.s3_post import PostCredentials, PostSigner

NOW = datetime(2026, 12, 8, 23, 59, 58)  # naive UTC, as botocore's clock answers


def _freeze_botocore(monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
    import botocore.auth
    import botocore.signers

    monkeypatch.setattr(botocore.signers, "get_current_datetime", lambda: now)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now)


@pytest.mark.parametrize("token", [None, "session-token/+="])
@pytest.mark.parametrize("public", [None, "https://files.example.org:9443"])
def test_fields_equal_botocores(monkeypatch: pytest.MonkeyPatch, token: str | None,
                                public: str | None) -> None:
    import boto3

    storage = S3Storage("speakup-b", "http://127.0.0.1:9", region="eu-central-1",
                        access_key="AKIDEXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCY",
                        public_endpoint_url=public)
    _freeze_botocore(monkeypatch, NOW)
    client = boto3.client("s3", endpoint_url=public or "http://127.0.0.1:9",
                          region_name="eu-central-1", aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCY",
                          aws_session_token=token)
    key, ctype, max_bytes = "jobs/0f3c/input", "audio/mp4", 2_000_000_000
    theirs = client.generate_presigned_post(
        Bucket="speakup-b", Key=key, Fields={"Content-Type": ctype},
        Conditions=[{"Content-Type": ctype}, ["content-length-range", 1, max_bytes]],
        ExpiresIn=900)  # fmt: skip
    ours = PostSigner("speakup-b", "eu-central-1").fields(
        key, content_type=ctype, max_bytes=max_bytes, expires_s=900, now=NOW,
        credentials=PostCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCY", token))
    assert list(ours.items()) == list(theirs["fields"].items())
    monkeypatch.setattr("shared.storage.s3.datetime", _Frozen)
    if token is None:  # the storage's own credentials carry no token
        post = storage.presigned_post(key, content_type=ctype, max_bytes=max_bytes, expires_s=900)
        assert post.url == theirs["url"] and post.fields == theirs["fields"]
        assert post.expires_at == datetime(2026, 12, 9, 0, 14, 58, tzinfo=UTC)


class _Frozen(datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
        return NOW.replace(tzinfo=tz)


def test_policy_keeps_the_limits_and_the_signing_key_follows_the_day() -> None:
    signer = PostSigner("b", "us-east-1")
    creds = PostCredentials("AK", "SECRET")
    fields = signer.fields("jobs/x/input", content_type="audio/wav", max_bytes=5, expires_s=60,
                           credentials=creds, now=NOW)
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert policy["expiration"] == "2026-12-09T00:00:58Z"
    assert {"Content-Type": "audio/wav"} in policy["conditions"]
    assert ["content-length-range", 1, 5] in policy["conditions"]
    assert {"key": "jobs/x/input"} in policy["conditions"]
    assert signer.signing_key("SECRET", "20261208") != signer.signing_key("SECRET", "20261209")


def test_signing_may_block_only_when_refreshable_credentials_are_due() -> None:
    # the api presigns inline on its event loop unless this says the network may be asked
    from datetime import timedelta

    from botocore.credentials import RefreshableCredentials

    storage = S3Storage("speakup-b", "http://127.0.0.1:9", access_key="AK", secret_key="SK")
    assert not storage.signing_may_block()  # static keys

    def refreshable(expires_in_s: float) -> RefreshableCredentials:
        expiry = (datetime.now(UTC) + timedelta(seconds=expires_in_s)).isoformat()
        metadata = {"access_key": "AK", "secret_key": "SK", "token": "T", "expiry_time": expiry}
        return RefreshableCredentials.create_from_metadata(metadata, lambda: metadata, "test")

    storage._credentials = refreshable(6 * 3600)
    assert not storage.signing_may_block()
    storage._credentials = refreshable(60)  # inside botocore's advisory refresh window
    assert storage.signing_may_block()
