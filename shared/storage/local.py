"""Local-filesystem storage for the embedded mode: objects are files under ``root/<key>``.

Signed URLs imitate S3's (`shared.storage.signing`); the api serves them with
`services.api.routers.storage` (`make_storage_router`), mounted at ``base_url``. Writes go to
``root/.partial/`` and are renamed into place, so a reader never sees half an object; content
types live beside the objects in ``root/.meta/``.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from shared.storage.base import (
    ObjectMissing,
    PresignedPost,
    StorageError,
    validate_key,
    validate_prefix,
)
from shared.storage.signing import AccessDenied, Signer, UploadGrant

__all__ = ["AccessDenied", "AtomicWriter", "LocalStorage", "UploadGrant"]

_PARTIAL_DIR = ".partial"
_META_DIR = ".meta"
_COPY_CHUNK_BYTES = 1 << 20


class AtomicWriter:
    """Streams an object into ``.partial/`` and renames it into place on `commit`."""

    def __init__(self, storage: LocalStorage, key: str, content_type: str) -> None:
        self._storage = storage
        self.key = validate_key(key)
        self.content_type = content_type
        self.bytes_written = 0
        self._tmp_path = storage._partial_path()
        self._file: BinaryIO | None = open(self._tmp_path, "wb")  # noqa: SIM115 (closed in commit/abort)

    def write(self, data: bytes) -> None:
        assert self._file is not None, "writer already closed"
        self._file.write(data)
        self.bytes_written += len(data)

    def commit(self) -> None:
        assert self._file is not None, "writer already closed"
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        self._storage._install(self._tmp_path, self.key, self.content_type)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and self._file is not None:
            self.commit()
        else:
            self.abort()


class LocalStorage:
    """Objects as files under ``root``; signed URLs served by the api at ``base_url``.

    ``base_url`` is the public URL where `make_storage_router` is mounted, e.g.
    ``http://127.0.0.1:8000/storage``. ``clock`` (unix seconds) is injectable for tests.
    """

    def __init__(
        self,
        root: Path | str,
        secret: bytes | str,
        base_url: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/")
        self._signer = Signer(secret, clock)

    # -- signed URLs (served by services.api.routers.storage) -----------------------------
    def presigned_post(
        self, key: str, *, content_type: str, max_bytes: int, expires_s: int
    ) -> PresignedPost:
        fields, expires = self._signer.post_fields(
            validate_key(key), content_type, max_bytes, expires_s
        )
        return PresignedPost(
            url=f"{self.base_url}/upload",
            fields=fields,
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    def verify_upload(self, fields: Mapping[str, str]) -> UploadGrant:
        """Check an upload form's policy the way S3 does; raises `AccessDenied`."""
        return self._signer.verify_post(fields)

    def presigned_get(self, key: str, *, expires_s: int, download_name: str | None = None) -> str:
        query = self._signer.get_query(validate_key(key), expires_s, download_name or "")
        return f"{self.base_url}/o/{quote(key)}?{urlencode(query)}"

    def verify_download(self, key: str, expires: str, signature: str, download_name: str) -> Path:
        """Path of the object a signed GET may read; raises `AccessDenied` or `ObjectMissing`."""
        self._signer.verify_get(key, expires, signature, download_name)
        path = self._path(key)
        if not path.is_file():
            raise ObjectMissing(key)
        return path

    # -- objects ---------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / _META_DIR / validate_key(key)

    def _partial_path(self) -> Path:
        partial = self.root / _PARTIAL_DIR
        partial.mkdir(parents=True, exist_ok=True)
        return partial / uuid.uuid4().hex

    def _install(self, tmp_path: Path, key: str, content_type: str) -> None:
        path, meta = self._path(key), self._meta_path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            meta.parent.mkdir(parents=True, exist_ok=True)
            meta_tmp = self._partial_path()
            meta_tmp.write_text(content_type)
            os.replace(meta_tmp, meta)
            os.replace(tmp_path, path)
        except OSError as exc:  # e.g. "jobs/a" is a file and "jobs/a/b" was asked for
            tmp_path.unlink(missing_ok=True)
            raise StorageError(f"cannot store {key!r}: {exc.strerror}") from exc

    def open_writer(self, key: str, content_type: str) -> AtomicWriter:
        return AtomicWriter(self, key, content_type)

    def content_type_of(self, key: str) -> str:
        try:
            return self._meta_path(key).read_text().strip() or "application/octet-stream"
        except OSError:
            return "application/octet-stream"

    def put_file(self, key: str, path: Path | str, content_type: str) -> None:
        with open(path, "rb") as src, self.open_writer(key, content_type) as writer:
            while chunk := src.read(_COPY_CHUNK_BYTES):
                writer.write(chunk)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        with self.open_writer(key, content_type) as writer:
            writer.write(data)

    def download_file(self, key: str, path: Path | str) -> None:
        dst = Path(path)
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part")
        try:
            with open(self._path(key), "rb") as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, _COPY_CHUNK_BYTES)
            os.replace(tmp, dst)
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc

    def modified_at(self, key: str) -> float:
        try:
            return self._path(key).stat().st_mtime
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc

    def list_prefix(self, prefix: str) -> list[tuple[str, int]]:
        validate_prefix(prefix)
        # Start the walk at the deepest folder the prefix names, as S3 matches plain prefixes.
        start = self.root / prefix.rpartition("/")[0]
        found: list[tuple[str, int]] = []
        for dirpath, dirnames, filenames in os.walk(start):
            here = Path(dirpath)
            if here == self.root:
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                key = (here / name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    try:
                        found.append((key, (here / name).stat().st_size))
                    except FileNotFoundError:  # deleted while we walked
                        continue
        return sorted(found)

    def delete_prefix(self, prefix: str) -> tuple[int, int]:
        validate_prefix(prefix, allow_empty=False)
        deleted, deleted_bytes = 0, 0
        for key, size in self.list_prefix(prefix):
            try:
                self._path(key).unlink()
            except FileNotFoundError:
                continue
            self._meta_path(key).unlink(missing_ok=True)
            deleted, deleted_bytes = deleted + 1, deleted_bytes + size
            self._prune_empty_dirs(key)
        return deleted, deleted_bytes

    def _prune_empty_dirs(self, key: str) -> None:
        for base in (self.root, self.root / _META_DIR):
            folder = (base / key).parent
            while folder != base and folder.is_relative_to(base):
                try:
                    folder.rmdir()
                except OSError:  # not empty (or already gone): stop climbing
                    break
                folder = folder.parent

    def ensure_bucket(self, lifecycle_days: int = 2) -> bool:
        """Create the root. There is no lifecycle engine here: the cleanup worker is the only
        deleter in the embedded mode, so this returns False."""
        (self.root / _PARTIAL_DIR).mkdir(parents=True, exist_ok=True)
        (self.root / _META_DIR).mkdir(parents=True, exist_ok=True)
        return False

    def purge_partials(self, older_than_s: float = 3600.0) -> int:
        """Delete temp files of uploads that never finished (a client or process died
        mid-write); returns how many. For the cleanup worker in the embedded mode."""
        cutoff = time.time() - older_than_s
        removed = 0
        for path in (self.root / _PARTIAL_DIR).glob("*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # committed or aborted meanwhile
                continue
        return removed

    def ping(self) -> bool:
        return self.root.is_dir() and os.access(self.root, os.W_OK)
