"""Build the configured storage backend. Settings feed this; nothing here reads globals."""

from __future__ import annotations

from typing import Any

from shared.storage.base import Storage


def make_storage(backend: str, **kwargs: Any) -> Storage:
    """``backend`` is ``"s3"`` (kwargs of `S3Storage`) or ``"local"`` (kwargs of `LocalStorage`)."""
    if backend == "s3":
        from shared.storage.s3 import S3Storage  # boto3 is imported only where it is used

        return S3Storage(**kwargs)
    if backend == "local":
        from shared.storage.local import LocalStorage

        return LocalStorage(**kwargs)
    raise ValueError(f"unknown storage backend {backend!r} (expected 's3' or 'local')")
