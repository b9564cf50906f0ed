"""Object storage: one contract (`Storage`), an S3 backend and a local-filesystem backend."""

from shared.storage.base import (
    InvalidKey,
    ObjectMissing,
    PresignedPost,
    Storage,
    StorageError,
    StorageUnavailable,
    validate_key,
    validate_prefix,
)
from shared.storage.factory import make_storage

__all__ = [
    "InvalidKey",
    "ObjectMissing",
    "PresignedPost",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "make_storage",
    "validate_key",
    "validate_prefix",
]
