"""The local-filesystem backend and the api router that serves its signed URLs."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from services.api.routers.storage import make_storage_router
from shared.storage import InvalidKey, ObjectMissing, Storage, make_storage
from shared.storage.local import LocalStorage

BASE_URL = "http://testserver/storage"
SECRET = b"0123456789abcdef-test-secret"


class FakeClock:
    def __init__(self, now_s: float = 1_800_000_000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def storage(tmp_path: Path, clock: FakeClock) -> LocalStorage:
    store = LocalStorage(tmp_path / "objects", SECRET, BASE_URL, clock=clock)
    store.ensure_bucket()
    return store


def request(storage: LocalStorage, method: str, url: str, **kwargs: object) -> httpx.Response:
    """One request to the storage router through ASGI (the body streams chunk by chunk)."""
    app = FastAPI()
    app.include_router(make_storage_router(storage), prefix="/storage")

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, url, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def upload(
    storage: LocalStorage,
    post_url: str,
    fields: dict[str, str],
    data: bytes,
) -> httpx.Response:
    return request(
        storage,
        "POST",
        post_url,
        data=fields,
        files={"file": ("recording.m4a", data, "application/octet-stream")},
    )


def leftovers(storage: LocalStorage) -> list[Path]:
    """Every file under the root, temp and metadata included."""
    return [p for p in storage.root.rglob("*") if p.is_file()]


# -- keys and the object API ---------------------------------------------------------------
@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "/abs",
        "jobs//x",
        "jobs/./x",
        "jobs/../x",
        ".partial/x",
        "jobs/.meta",
        "a b",
        "jobs/ü",
        "",
        "jobs/x/",
        "x" * 600,
        "jobs\\x",
    ],
)
def test_bad_keys_are_refused(storage: LocalStorage, key: str) -> None:
    with pytest.raises(InvalidKey):
        storage.put_bytes(key, b"x", "audio/wav")
    with pytest.raises(InvalidKey):
        storage.presigned_get(key, expires_s=60)
    assert leftovers(storage) == []


def test_object_round_trip(storage: LocalStorage, tmp_path: Path) -> None:
    assert isinstance(storage, Storage)
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 4096)  # 1 MiB, several copy chunks
    before = time.time()
    storage.put_file("jobs/a/input", src, "audio/mp4")
    storage.put_bytes("jobs/a/enhanced.wav", b"RIFF1234", "audio/wav")
    storage.put_bytes("jobs/ab/input", b"other job", "audio/wav")
    assert storage.exists("jobs/a/input") and not storage.exists("jobs/a/nothing")
    assert storage.size("jobs/a/input") == 1 << 20
    assert storage.content_type_of("jobs/a/input") == "audio/mp4"
    assert before - 1.0 <= storage.modified_at("jobs/a/input") <= time.time() + 1.0
    with pytest.raises(ObjectMissing):
        storage.size("jobs/a/nothing")
    with pytest.raises(ObjectMissing):
        storage.modified_at("jobs/a/nothing")

    dst = tmp_path / "dst.bin"
    storage.download_file("jobs/a/input", dst)
    assert dst.read_bytes() == src.read_bytes()
    with pytest.raises(ObjectMissing):
        storage.download_file("jobs/zz/input", tmp_path / "missing.bin")
    assert not (tmp_path / "missing.bin").exists()

    # Plain prefixes match like S3's: "jobs/a" also matches "jobs/ab/...".
    assert storage.list_prefix("jobs/a/") == [("jobs/a/enhanced.wav", 8), ("jobs/a/input", 1 << 20)]
    assert [k for k, _ in storage.list_prefix("jobs/a")] == [
        "jobs/a/enhanced.wav",
        "jobs/a/input",
        "jobs/ab/input",
    ]
    assert len(storage.list_prefix("")) == 3  # the temp and metadata folders are not objects

    assert storage.delete_prefix("jobs/a/") == (2, (1 << 20) + 8)
    assert storage.list_prefix("jobs/a/") == []
    assert storage.list_prefix("jobs/") == [("jobs/ab/input", 9)]
    assert not (storage.root / "jobs" / "a").exists()  # no empty folders left behind
    assert storage.delete_prefix("jobs/a/") == (0, 0)
    with pytest.raises(InvalidKey):
        storage.delete_prefix("")


def test_overwrite_and_aborted_write_are_atomic(storage: LocalStorage) -> None:
    storage.put_bytes("jobs/a/output.wav", b"first", "audio/wav")
    writer = storage.open_writer("jobs/a/output.wav", "audio/flac")
    writer.write(b"second, longer")
    assert storage.size("jobs/a/output.wav") == 5  # readers still see the old object
    writer.abort()
    assert storage.size("jobs/a/output.wav") == 5
    with pytest.raises(RuntimeError), storage.open_writer("jobs/a/output.wav", "audio/flac") as w:
        w.write(b"half")
        raise RuntimeError("worker died")
    storage.put_bytes("jobs/a/output.wav", b"third!", "audio/flac")
    assert storage.size("jobs/a/output.wav") == 6
    assert storage.content_type_of("jobs/a/output.wav") == "audio/flac"
    assert not list((storage.root / ".partial").iterdir())


def test_factory_and_ping(tmp_path: Path) -> None:
    store = make_storage("local", root=tmp_path / "r", secret=SECRET, base_url=BASE_URL)
    assert isinstance(store, LocalStorage)
    assert not store.ping()
    assert store.ensure_bucket(lifecycle_days=2) is False  # no lifecycle engine locally
    assert store.ping()
    with pytest.raises(ValueError):
        make_storage("ftp")
    with pytest.raises(ValueError):
        LocalStorage(tmp_path, b"short", BASE_URL)


# -- presigned POST through the router -------------------------------------------------------
def test_presigned_post_upload(storage: LocalStorage, clock: FakeClock) -> None:
    post = storage.presigned_post(
        "jobs/j1/input", content_type="audio/mp4", max_bytes=1000, expires_s=600
    )
    assert post.url == f"{BASE_URL}/upload"
    assert post.fields["Content-Type"] == "audio/mp4" and post.fields["key"] == "jobs/j1/input"
    assert post.expires_at.timestamp() == clock.now_s + 600
    answer = upload(storage, post.url, post.fields, b"a" * 1000)
    assert answer.status_code == 204, answer.text
    assert storage.size("jobs/j1/input") == 1000
    assert storage.content_type_of("jobs/j1/input") == "audio/mp4"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"Content-Type": "text/html"}, 403, "AccessDenied"),
        ({"key": "jobs/other/input"}, 403, "AccessDenied"),
        ({"signature": "0" * 64}, 403, "SignatureDoesNotMatch"),
        ({"signature": ""}, 403, "AccessDenied"),
    ],
)
def test_presigned_post_refuses_tampering(
    storage: LocalStorage, change: dict[str, str], status: int, code: str
) -> None:
    post = storage.presigned_post(
        "jobs/j1/input", content_type="audio/mp4", max_bytes=1000, expires_s=600
    )
    answer = upload(storage, post.url, {**post.fields, **change}, b"a" * 10)
    assert answer.status_code == status
    assert f"<Code>{code}</Code>" in answer.text
    assert storage.list_prefix("jobs/") == [] and leftovers(storage) == []


def test_presigned_post_policy_cannot_be_rewritten(storage: LocalStorage) -> None:
    """Raising max_bytes or swapping the key inside the policy breaks the signature."""
    small = storage.presigned_post(
        "jobs/j1/input", content_type="audio/mp4", max_bytes=10, expires_s=600
    )
    big = storage.presigned_post(
        "jobs/j2/input", content_type="audio/mp4", max_bytes=10**9, expires_s=600
    )
    forged = {**small.fields, "policy": big.fields["policy"]}
    answer = upload(storage, small.url, forged, b"a" * 100)
    assert answer.status_code == 403 and "SignatureDoesNotMatch" in answer.text
    assert leftovers(storage) == []


def test_presigned_post_expires(storage: LocalStorage, clock: FakeClock) -> None:
    post = storage.presigned_post(
        "jobs/j1/input", content_type="audio/mp4", max_bytes=100, expires_s=60
    )
    clock.now_s += 61
    answer = upload(storage, post.url, post.fields, b"a" * 10)
    assert answer.status_code == 403 and "expired" in answer.text
    assert not storage.exists("jobs/j1/input")


def test_presigned_post_size_limits(storage: LocalStorage) -> None:
    post = storage.presigned_post(
        "jobs/j1/input", content_type="audio/mp4", max_bytes=1000, expires_s=600
    )
    too_big = upload(storage, post.url, post.fields, b"a" * 1001)
    assert too_big.status_code == 400 and "<Code>EntityTooLarge</Code>" in too_big.text
    empty = upload(storage, post.url, post.fields, b"")
    assert empty.status_code == 400 and "<Code>EntityTooSmall</Code>" in empty.text
    assert leftovers(storage) == []


def test_oversize_upload_is_cut_off_while_streaming(storage: LocalStorage) -> None:
    """A 64 MiB body against a 1 MiB policy: the server stops reading soon after 1 MiB."""
    post = storage.presigned_post(
        "jobs/j1/input", content_type="audio/mp4", max_bytes=1 << 20, expires_s=600
    )
    boundary = "speakupboundary"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in post.fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    sent = [0]

    async def body() -> AsyncIterator[bytes]:
        yield head.encode()
        chunk = b"z" * 65536
        for _ in range(1024):
            sent[0] += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    answer = request(
        storage,
        "POST",
        post.url,
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status_code == 400 and "EntityTooLarge" in answer.text
    assert sent[0] <= (1 << 20) + 2 * 65536, f"server read {sent[0]} bytes"
    assert leftovers(storage) == []


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({"Content-Type": "application/json"}, b"{}"),
        ({"Content-Type": "multipart/form-data"}, b"--x--"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x\r\ngarbage without headers"),
    ],
)
def test_malformed_upload_bodies(
    storage: LocalStorage, headers: dict[str, str], content: bytes
) -> None:
    answer = request(storage, "POST", f"{BASE_URL}/upload", content=content, headers=headers)
    assert answer.status_code == 400
    assert leftovers(storage) == []


def test_upload_without_file_part(storage: LocalStorage) -> None:
    post = storage.presigned_post(
        "jobs/j1/input", content_type="audio/mp4", max_bytes=100, expires_s=600
    )
    answer = request(
        storage, "POST", post.url, data=post.fields, files={"other": ("x", b"abc", "audio/mp4")}
    )
    assert answer.status_code == 400 and "InvalidArgument" in answer.text
    assert not storage.exists("jobs/j1/input")


# -- presigned GET through the router --------------------------------------------------------
def test_presigned_get(storage: LocalStorage, clock: FakeClock) -> None:
    storage.put_bytes("jobs/j1/output.wav", b"RIFF-audio-bytes", "audio/wav")
    url = storage.presigned_get(
        "jobs/j1/output.wav", expires_s=300, download_name="my talk (final).wav"
    )
    answer = request(storage, "GET", url)
    assert answer.status_code == 200 and answer.content == b"RIFF-audio-bytes"
    assert answer.headers["content-type"] == "audio/wav"
    assert answer.headers["content-disposition"] == 'attachment; filename="my_talk_final_.wav"'
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert request(storage, "HEAD", url).status_code == 200

    plain = storage.presigned_get("jobs/j1/output.wav", expires_s=300)
    assert request(storage, "GET", plain).headers["content-disposition"] == "attachment"

    clock.now_s += 301
    expired = request(storage, "GET", url)
    assert expired.status_code == 403 and "expired" in expired.text


def test_presigned_get_tampering(storage: LocalStorage) -> None:
    storage.put_bytes("jobs/j1/output.wav", b"one", "audio/wav")
    storage.put_bytes("jobs/j2/output.wav", b"two", "audio/wav")
    url = storage.presigned_get("jobs/j1/output.wav", expires_s=300, download_name="a.wav")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    base = f"{parts.scheme}://{parts.netloc}"

    def get(path: str, **changes: str) -> httpx.Response:
        return request(storage, "GET", f"{base}{path}", params={**query, **changes})

    assert get(parts.path).status_code == 200
    assert get(parts.path.replace("j1", "j2")).status_code == 403  # another job's object
    assert get(parts.path, sig=query["sig"][:-1] + "0").status_code == 403
    assert get(parts.path, expires=str(int(query["expires"]) + 3600)).status_code == 403
    assert get(parts.path, dl="evil.html").status_code == 403
    assert get(parts.path.replace("output.wav", "../../etc/passwd")).status_code in (403, 404)

    storage.delete_prefix("jobs/j1/")
    gone = get(parts.path)
    assert gone.status_code == 404 and "NoSuchKey" in gone.text


def test_purge_partials_removes_only_stale_temp_files(storage: LocalStorage) -> None:
    stale = storage.open_writer("jobs/j1/input", "audio/wav")
    stale.write(b"half an upload")
    fresh = storage.open_writer("jobs/j2/input", "audio/wav")
    partials = sorted((storage.root / ".partial").iterdir())
    old_s = time.time() - 7200
    os.utime(stale._tmp_path, (old_s, old_s))
    assert len(partials) == 2
    assert storage.purge_partials(older_than_s=3600) == 1
    assert [p.name for p in (storage.root / ".partial").iterdir()] == [fresh._tmp_path.name]
    fresh.write(b"ok")
    fresh.commit()
    assert storage.exists("jobs/j2/input") and not storage.exists("jobs/j1/input")
