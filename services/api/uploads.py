"""Streaming parse of the one-shot multipart upload: the `file` part goes straight to a temp
file with a hard byte cap, never into memory; the small `options` part is kept as text."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from services.api.errors import ApiError

MAX_OPTIONS_BYTES = 64 * 1024
MAX_PARTS = 8
# Headers, boundaries and the options part ride on top of the file itself.
ENVELOPE_BYTES = 1024 * 1024


@dataclass
class ParsedUpload:
    path: Path | None = None  # temp file holding the `file` part; the caller deletes it
    size_bytes: int = 0
    content_type: str = "application/octet-stream"
    options_json: str | None = None


@dataclass
class _Part:
    name: str = ""
    is_file: bool = False
    content_type: str = ""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "too_large", f"the upload exceeds the limit of {max_bytes} bytes")


class _Collector:
    """python-multipart callbacks: routes `file` to disk and `options` to a small buffer."""

    def __init__(
        self, max_file_bytes: int, allowed_types: tuple[str, ...] | None, tmp_dir: str | None
    ) -> None:
        self.max_file_bytes = max_file_bytes
        self.allowed_types = allowed_types
        self.tmp_dir = tmp_dir
        self.result = ParsedUpload()
        self._part = _Part()
        self._parts = 0
        self._field = b""
        self._value = b""
        self._options = bytearray()
        self._file: BinaryIO | None = None  # open binary file of the current `file` part

    # headers of one part
    def on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise ApiError(422, "invalid_request", "too many parts in the multipart body")
        self._part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._part.headers.append((self._field.lower(), self._value))
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        headers = dict(self._part.headers)
        _, params = parse_options_header(headers.get(b"content-disposition", b""))
        self._part.name = params.get(b"name", b"").decode("latin-1")
        ctype, _ = parse_options_header(headers.get(b"content-type", b""))
        self._part.content_type = ctype.decode("latin-1").lower()
        if self._part.name not in ("file", "options"):
            raise ApiError(
                422,
                "invalid_request",
                f"unexpected part {self._part.name[:40]!r}: send `file` and `options`",
            )
        if self._part.name == "file":
            if self.result.path is not None:
                raise ApiError(422, "invalid_request", "send exactly one `file` part")
            content_type = self._part.content_type or "application/octet-stream"
            if self.allowed_types is not None and content_type not in self.allowed_types:
                # refuse before the bytes arrive rather than after a long upload
                raise ApiError(
                    415,
                    "unsupported_content_type",
                    f"content type {content_type!r} is not accepted; send one of: "
                    + ", ".join(self.allowed_types),
                )
            fd, name = tempfile.mkstemp(prefix="speakup-upload-", dir=self.tmp_dir)
            self._file = os.fdopen(fd, "wb")
            self.result.path = Path(name)
            self.result.content_type = content_type

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if self._part.name == "file":
            self.result.size_bytes += size
            if self.result.size_bytes > self.max_file_bytes:
                raise _too_large(self.max_file_bytes)
            if self._file is not None:
                self._file.write(data[start:end])
        elif self._part.name == "options":
            if len(self._options) + size > MAX_OPTIONS_BYTES:
                raise ApiError(413, "too_large", "the options part exceeds 64 KiB")
            self._options += data[start:end]

    def on_part_end(self) -> None:
        if self._part.name == "file" and self._file is not None:
            self._file.close()
            self._file = None
        elif self._part.name == "options":
            try:
                self.result.options_json = self._options.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ApiError(422, "invalid_request", "options must be UTF-8 JSON") from exc

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def callbacks(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in dir(self) if name.startswith("on_")}


async def parse_multipart(
    request: Request,
    max_file_bytes: int,
    allowed_types: tuple[str, ...] | None = None,
    tmp_dir: str | None = None,
) -> ParsedUpload:
    """Stream the body; raises ApiError 413 past the cap, 422 on a malformed body."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(422, "invalid_request", "multipart body without a boundary")
    declared = request.headers.get("content-length")
    body_cap = max_file_bytes + ENVELOPE_BYTES
    if declared and declared.isdigit() and int(declared) > body_cap:
        raise _too_large(max_file_bytes)
    collector = _Collector(max_file_bytes, allowed_types, tmp_dir)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_cap:
                raise _too_large(max_file_bytes)
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        _discard(collector)
        raise
    except Exception as exc:  # python-multipart's parse errors, a client that went away
        _discard(collector)
        raise ApiError(422, "invalid_request", "malformed multipart body") from exc
    collector.close()
    return collector.result


def _discard(collector: _Collector) -> None:
    collector.close()
    if collector.result.path is not None:
        collector.result.path.unlink(missing_ok=True)
        collector.result.path = None
