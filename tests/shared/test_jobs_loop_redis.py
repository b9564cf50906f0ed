"""The api's pipelined event-loop Redis connection (shared/jobs/loop_redis.py) on a real Redis:
answers reach their callers in order, scripts survive a flush, failures raise redis-py's classes
and the next call connects again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from shared.jobs.loop_redis import LoopRedis
from tests.servers import free_port, start_redis_server

DB = 11


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture
def url(redis_server: str) -> str:
    url = redis_server.rsplit("/", 1)[0] + f"/{DB}"
    redis.Redis.from_url(url).flushdb()
    return url


def test_concurrent_calls_get_their_own_answers_and_the_urls_db(url: str) -> None:
    async def main() -> list[str]:
        client = LoopRedis.from_url(url)
        await asyncio.gather(*(client.execute("SET", f"k{i}", f"v{i}") for i in range(300)))
        answers = await asyncio.gather(*(client.execute("GET", f"k{i}") for i in range(300)))
        await client.aclose()
        return answers

    assert _run(main()) == [f"v{i}" for i in range(300)]
    assert redis.Redis.from_url(url, decode_responses=True).get("k7") == "v7"  # db 11, not 0


def test_scripts_load_again_after_a_flush_and_errors_are_response_errors(url: str) -> None:
    async def main() -> None:
        client = LoopRedis.from_url(url)
        script = client.register_script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}")
        assert await script(keys=["n"], args=["x"]) == ["n", "x", 1]
        await client.execute("SCRIPT", "FLUSH")
        assert await script(keys=["n"], args=[2]) == ["n", "2", 2]
        with pytest.raises(redis.ResponseError):
            await client.execute("HGET", "n", "field")  # WRONGTYPE
        assert await client.execute("GET", "n") == "2"  # the connection is still in step
        await client.aclose()

    _run(main())


def test_a_timeout_fails_the_call_and_the_next_call_connects_again(url: str) -> None:
    async def main() -> None:
        client = LoopRedis.from_url(url, socket_timeout=0.2)
        with pytest.raises(redis.TimeoutError):
            await client.execute("BLPOP", "empty-list", 2)
        assert await client.ping()
        await client.aclose()

    _run(main())


def test_down_and_restarted_server(tmp_path: Path) -> None:
    port = free_port()

    async def main() -> None:
        client = LoopRedis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5)
        with pytest.raises(redis.ConnectionError):
            await client.ping()  # nothing listens yet
        _, stop = start_redis_server(tmp_path, port=port)
        try:
            assert await client.ping()
        finally:
            stop()
        with pytest.raises(redis.ConnectionError):
            await client.ping()
        _, stop = start_redis_server(tmp_path, port=port)
        try:
            assert await client.ping()  # the lost connection was retired; a new one opens
        finally:
            stop()
        await client.aclose()

    _run(main())


def test_password_and_db_from_the_url_as_compose_writes_it(tmp_path: Path) -> None:
    url, stop = start_redis_server(tmp_path)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        redis.Redis.from_url(url).config_set("requirepass", "s3cret")

        async def main() -> None:
            with pytest.raises(redis.ResponseError):  # no password: NOAUTH
                await LoopRedis.from_url(f"redis://127.0.0.1:{port}/2").execute("SET", "a", "1")
            client = LoopRedis.from_url(f"redis://:s3cret@127.0.0.1:{port}/2")
            await client.execute("SET", "a", "1")
            await client.aclose()

        _run(main())
        assert redis.Redis.from_url(f"redis://:s3cret@127.0.0.1:{port}/2").get("a") == b"1"
    finally:
        stop()
