"""Serves the LOCAL storage backend's signed URLs, the way S3 would answer them.

- ``POST /upload``: an S3-style presigned POST (multipart/form-data: the policy fields first, the
  file last). The body is parsed as it streams in: the policy is verified when the file part
  begins (so nothing of an unauthorised upload is stored), the file goes straight to a temp file,
  and the upload stops with ``400 EntityTooLarge`` the moment it passes the policy's max bytes.
  Success is ``204``; errors are S3's XML bodies and codes.
- ``GET /o/{key}``: a signed, expiring download (``403`` on a bad signature or expiry).

Mount with ``app.include_router(make_storage_router(storage), prefix="/storage")``; the storage's
``base_url`` must be the public URL of that mount point.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from python_multipart.multipart import MultipartParser, parse_options_header

from shared.storage.base import ObjectMissing, StorageError, content_disposition
from shared.storage.local import AccessDenied, AtomicWriter, LocalStorage, UploadGrant

log = logging.getLogger("speakup.api.storage")

MAX_FORM_FIELDS = 16
MAX_FIELD_BYTES = 8 * 1024


class S3Failure(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def s3_error(status: int, code: str, message: str) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


class _UploadForm:
    """Incremental multipart parsing of one presigned-POST body.

    Text fields are collected (bounded in number and size) until the ``file`` part's headers
    arrive; ``authorize`` then turns those fields into a writer, or raises. Parts after the file
    are ignored, as S3 does.
    """

    def __init__(self, boundary: bytes, authorize: Callable[[dict[str, str]], AtomicWriter]):
        self.fields: dict[str, str] = {}
        self.writer: AtomicWriter | None = None
        self.max_bytes = 0
        self.file_done = False
        self._authorize = authorize
        self._headers: dict[str, str] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._part_name: str | None = None
        self._in_file = False
        self._buffer = bytearray()
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": lambda d, s, e: self._header_name.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def _part_begin(self) -> None:
        self._headers.clear()
        self._buffer.clear()
        self._part_name = None

    def _header_end(self) -> None:
        name = self._header_name.decode("latin-1").strip().lower()
        self._headers[name] = self._header_value.decode("latin-1").strip()
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        if self.file_done:
            return
        _, options = parse_options_header(self._headers.get("content-disposition", ""))
        raw_name = options.get(b"name")
        self._part_name = raw_name.decode("utf-8", "replace") if raw_name is not None else None
        if self._part_name is None:
            raise S3Failure(400, "MalformedPOSTRequest", "A form part has no name.")
        if self._part_name == "file":
            self.writer = self._authorize(self.fields)
            self._in_file = True
        elif len(self.fields) >= MAX_FORM_FIELDS:
            raise S3Failure(400, "MalformedPOSTRequest", "Too many form fields.")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.file_done:
            return
        if self._in_file:
            assert self.writer is not None
            if self.writer.bytes_written + (end - start) > self.max_bytes:
                raise S3Failure(
                    400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size."
                )
            self.writer.write(data[start:end])
            return
        self._buffer.extend(data[start:end])
        if len(self._buffer) > MAX_FIELD_BYTES:
            raise S3Failure(400, "MalformedPOSTRequest", "A form field is too large.")

    def _part_end(self) -> None:
        if self.file_done or self._part_name is None:
            return
        if self._in_file:
            self._in_file, self.file_done = False, True
        else:
            self.fields[self._part_name] = self._buffer.decode("utf-8", "replace")


def make_storage_router(storage: LocalStorage) -> APIRouter:
    router = APIRouter(tags=["storage"])

    @router.post("/upload", include_in_schema=False)
    async def upload(request: Request) -> Response:
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            return s3_error(
                400, "InvalidArgument", "POST requires a multipart/form-data body with a boundary."
            )

        def authorize(fields: dict[str, str]) -> AtomicWriter:
            try:
                grant: UploadGrant = storage.verify_upload(fields)
            except AccessDenied as exc:
                raise S3Failure(403, exc.code, exc.message) from exc
            form.max_bytes = grant.max_bytes
            return storage.open_writer(grant.key, grant.content_type)

        form = _UploadForm(boundary, authorize)
        try:
            async for chunk in request.stream():
                form.parser.write(chunk)
                if form.file_done:
                    break  # S3 ignores whatever follows the file
            else:
                form.parser.finalize()
            if not form.file_done or form.writer is None:
                raise S3Failure(
                    400, "InvalidArgument", "POST requires exactly one file upload per request."
                )
            if form.writer.bytes_written < 1:
                raise S3Failure(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size.",
                )
            form.writer.commit()
        except S3Failure as exc:
            if form.writer is not None:
                form.writer.abort()
            return s3_error(exc.status, exc.code, exc.message)
        except StorageError as exc:
            if form.writer is not None:
                form.writer.abort()
            log.warning("storage upload failed: %s", type(exc).__name__)
            return s3_error(500, "InternalError", "The upload could not be stored.")
        except Exception:
            if form.writer is not None:
                form.writer.abort()
            return s3_error(
                400,
                "MalformedPOSTRequest",
                "The body of your POST request is not well-formed multipart/form-data.",
            )
        return Response(status_code=204)

    @router.api_route("/o/{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def download(key: str, expires: str = "", sig: str = "", dl: str = "") -> Response:
        try:
            path = storage.verify_download(key, expires, sig, dl)
        except AccessDenied as exc:
            return s3_error(403, exc.code, exc.message)
        except ObjectMissing:
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        except StorageError:  # an invalid key cannot carry a valid signature: same answer
            return s3_error(403, "SignatureDoesNotMatch", "The signature does not match.")
        headers = {
            # Uploaded bytes are served from the api's own origin: never let a browser render
            # them as a page.
            "Content-Disposition": content_disposition(dl) if dl else "attachment",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        }
        return FileResponse(path, media_type=storage.content_type_of(key), headers=headers)

    return router
