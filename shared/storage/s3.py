"""S3 storage (AWS S3, MinIO, any S3-compatible server) through boto3.

Presigned URLs are signed for the host that will use them: inside compose the api reaches
``http://minio:9000`` while a browser reaches a public URL, and a SigV4 signature covers the Host
header. So when ``public_endpoint_url`` is set a second client, which never sends a request, signs
the URLs handed to clients.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

from shared.storage.base import (
    ObjectMissing,
    PresignedPost,
    StorageError,
    StorageUnavailable,
    content_disposition,
    validate_key,
    validate_prefix,
)
from shared.storage.s3_post import PostCredentials, PostSigner

DELETE_BATCH = 1000  # S3's DeleteObjects maximum
MAX_EXPIRY_S = 7 * 24 * 3600
LIFECYCLE_RULE_ID = "speakup-expire-jobs"
_MISSING_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_UNSUPPORTED_CODES = {"NotImplemented", "501", "MethodNotAllowed", "405", "XNotImplemented"}
_TRANSIENT_CODES = {
    "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "500", "502", "503",
    "504", "Throttling", "ThrottlingException",
}  # fmt: skip
_TRANSFER = TransferConfig(
    multipart_threshold=64 << 20, multipart_chunksize=16 << 20, max_concurrency=4
)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _wrap(exc: Exception, what: str) -> StorageError:
    """Translate a botocore failure into our exceptions (transient ones are retryable)."""
    if isinstance(exc, ClientError):
        code = _error_code(exc)
        if code in _MISSING_CODES:
            return ObjectMissing(what)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _TRANSIENT_CODES or status >= 500:
            return StorageUnavailable(f"{what}: {code or status}")
        return StorageError(f"{what}: {code or status}")
    if isinstance(exc, (ConnectionError, ReadTimeoutError, BotoCoreError)):
        return StorageUnavailable(f"{what}: {type(exc).__name__}")
    return StorageError(f"{what}: {exc}")


class S3Storage:
    """One private bucket. ``endpoint_url`` None means AWS itself."""

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        public_endpoint_url: str | None = None,
        *,
        cors_origins: tuple[str, ...] = (),
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        max_attempts: int = 5,
    ) -> None:
        self.bucket = bucket
        self.region = region
        self.cors_origins = cors_origins
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
        )
        credentials = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
        self._client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config, **credentials
        )
        self._signer = (
            boto3.client(
                "s3",
                endpoint_url=public_endpoint_url,
                region_name=region,
                config=config,
                **credentials,
            )
            if public_endpoint_url
            else self._client
        )
        # Upload forms are signed here (`s3_post`: botocore's algorithm at a fraction of its CPU);
        # credentials come from the same chain boto3 uses (static keys, env, IMDS, refreshed).
        self._credentials = boto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key
        ).get_credentials()
        self._post_signer = PostSigner(bucket, region)
        self._post_url: str | None = None
        # /readyz must answer fast: one attempt, short timeouts.
        ping_config = config.merge(
            Config(
                retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2, read_timeout=3
            )
        )
        self._ping_client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=ping_config, **credentials
        )

    @property
    def client(self) -> Any:
        """The underlying boto3 client (tests, audits)."""
        return self._client

    def presigned_post(
        self, key: str, *, content_type: str, max_bytes: int, expires_s: int
    ) -> PresignedPost:
        validate_key(key)
        if not 1 <= expires_s <= MAX_EXPIRY_S or max_bytes < 1:
            raise ValueError("expires_s must be in 1..7 days and max_bytes positive")
        now = datetime.now(UTC)
        fields = self._post_signer.fields(
            key, content_type=content_type, max_bytes=max_bytes, expires_s=expires_s,
            credentials=self._post_credentials(), now=now.replace(tzinfo=None),
        )  # fmt: skip
        return PresignedPost(
            url=self._form_url(), fields=fields, expires_at=now + timedelta(seconds=expires_s)
        )

    def signing_may_block(self) -> bool:
        """Whether the next `presigned_post` may wait on the network: only with refreshable
        credentials (IMDS, STS) that are due for a refresh; static keys never."""
        refresh_needed = getattr(self._credentials, "refresh_needed", None)
        return bool(refresh_needed is not None and refresh_needed())

    def _post_credentials(self) -> PostCredentials:
        if self._credentials is None:
            raise StorageError("no S3 credentials to sign an upload form with")
        frozen = self._credentials.get_frozen_credentials()
        return PostCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    def _form_url(self) -> str:
        """Where the form is posted (the bucket's URL on the public endpoint): botocore's own
        answer, asked once — it does not depend on the key."""
        if self._post_url is None:
            self._post_url = str(
                self._signer.generate_presigned_post(Bucket=self.bucket, Key="k")["url"]
            )
        return self._post_url

    def presigned_get(self, key: str, *, expires_s: int, download_name: str | None = None) -> str:
        validate_key(key)
        if not 1 <= expires_s <= MAX_EXPIRY_S:
            raise ValueError("expires_s must be in 1..7 days")
        params: dict[str, str] = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = content_disposition(download_name)
        url: str = self._signer.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_s
        )
        return url

    def put_file(self, key: str, path: Path | str, content_type: str) -> None:
        validate_key(key)
        try:
            self._client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=_TRANSFER,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, f"put {key}") from exc
        except S3UploadFailedError as exc:  # s3transfer's wrapper around a ClientError
            cause = exc.__context__
            if isinstance(cause, ClientError):
                raise _wrap(cause, f"put {key}") from exc
            raise StorageUnavailable(f"put {key}: upload failed") from exc

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=validate_key(key), Body=data, ContentType=content_type
            )
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, f"put {key}") from exc

    def download_file(self, key: str, path: Path | str) -> None:
        dst = Path(path)
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part")
        validate_key(key)
        try:
            self._client.download_file(self.bucket, key, str(tmp), Config=_TRANSFER)
            os.replace(tmp, dst)
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, f"get {key}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def _head(self, key: str) -> dict[str, Any]:
        try:
            head: dict[str, Any] = self._client.head_object(
                Bucket=self.bucket, Key=validate_key(key)
            )
            return head
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, f"head {key}") from exc

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except ObjectMissing:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def modified_at(self, key: str) -> float:
        return float(self._head(key)["LastModified"].timestamp())

    def list_prefix(self, prefix: str) -> list[tuple[str, int]]:
        validate_prefix(prefix)
        found: list[tuple[str, int]] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                found.extend((obj["Key"], int(obj["Size"])) for obj in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, f"list {prefix}") from exc
        return sorted(found)

    def delete_prefix(self, prefix: str) -> tuple[int, int]:
        validate_prefix(prefix, allow_empty=False)
        objects = self.list_prefix(prefix)
        deleted, deleted_bytes = 0, 0
        for start in range(0, len(objects), DELETE_BATCH):
            batch = objects[start : start + DELETE_BATCH]
            try:
                answer = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key, _ in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                raise _wrap(exc, f"delete {prefix}") from exc
            failed = {
                err["Key"] for err in answer.get("Errors", []) if err.get("Code") != "NoSuchKey"
            }
            if failed:
                raise StorageUnavailable(f"delete {prefix}: {len(failed)} objects not deleted")
            deleted += len(batch)
            deleted_bytes += sum(size for _, size in batch)
        return deleted, deleted_bytes

    def ensure_bucket(self, lifecycle_days: int = 2) -> bool:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) not in _MISSING_CODES:
                raise _wrap(exc, f"head bucket {self.bucket}") from exc
            self._create_bucket()
        except BotoCoreError as exc:
            raise _wrap(exc, f"head bucket {self.bucket}") from exc
        self._tolerate_unsupported(
            self._client.put_public_access_block,
            Bucket=self.bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        if self.cors_origins:
            # the web page uploads (presigned POST) and previews (GET) straight from the bucket
            self._tolerate_unsupported(
                self._client.put_bucket_cors,
                Bucket=self.bucket,
                CORSConfiguration={"CORSRules": [{
                    "AllowedOrigins": list(self.cors_origins),
                    "AllowedMethods": ["POST", "GET", "HEAD"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag", "Content-Length"],
                    "MaxAgeSeconds": 600,
                }]},
            )
        rule = {
            "ID": LIFECYCLE_RULE_ID,
            "Filter": {"Prefix": "jobs/"},
            "Status": "Enabled",
            "Expiration": {"Days": lifecycle_days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
        return self._tolerate_unsupported(
            self._client.put_bucket_lifecycle_configuration,
            Bucket=self.bucket,
            LifecycleConfiguration={"Rules": [rule]},
        )

    def _create_bucket(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**kwargs)
        except ClientError as exc:
            if _error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise _wrap(exc, f"create bucket {self.bucket}") from exc
        except BotoCoreError as exc:
            raise _wrap(exc, f"create bucket {self.bucket}") from exc

    @staticmethod
    def _tolerate_unsupported(call: Any, **kwargs: Any) -> bool:
        """Run a bucket-configuration call; False where the server does not implement it."""
        try:
            call(**kwargs)
        except ClientError as exc:
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if _error_code(exc) in _UNSUPPORTED_CODES or status in _UNSUPPORTED_CODES:
                return False
            raise _wrap(exc, call.__name__) from exc
        except BotoCoreError as exc:
            raise _wrap(exc, call.__name__) from exc
        return True

    def lifecycle_rules(self) -> list[dict[str, Any]]:
        """The bucket's lifecycle rules as the server reports them ([] when none/unsupported)."""
        try:
            answer = self._client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
        except ClientError:
            return []
        rules: list[dict[str, Any]] = answer.get("Rules", [])
        return rules

    def ping(self) -> bool:
        try:
            self._ping_client.head_bucket(Bucket=self.bucket)
        except Exception:  # any failure means "not ready"; /readyz must never raise
            return False
        return True
