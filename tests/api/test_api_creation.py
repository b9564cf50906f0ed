"""Creating on the event loop: which JSON creates stay on it (services/api/creation.py), and the
rate limit counted through the loop's Redis connection (services/api/ratelimit.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.api.creation import signing_may_block
from services.api.ratelimit import FixedWindowLimiter
from shared.jobs.loop_redis import LoopRedis

pytest_plugins = ["api_support"]  # fixtures: api_redis_url, redis_client


class _Refreshing:
    def __init__(self, due: bool) -> None:
        self.due = due

    def signing_may_block(self) -> bool:
        return self.due


def test_only_a_backend_that_says_so_is_presigned_in_the_thread_pool() -> None:
    assert not signing_may_block(object())  # the local backend: an HMAC, never the network
    assert not signing_may_block(_Refreshing(False))
    assert signing_may_block(_Refreshing(True))


def test_the_limiters_loop_client_shares_the_sync_clients_window(
    api_redis_url: str, redis_client: Any
) -> None:
    async def main() -> None:
        loop_client = LoopRedis.from_url(api_redis_url)
        limiter = FixedWindowLimiter(redis_client, 2, 60, async_client=loop_client)
        now = 60.0 * 16_667 + 20  # 20 s into a window
        assert limiter.hit("a", now).allowed
        assert (await limiter.hit_async("a", now)).allowed
        refused = await limiter.hit_async("a", now)
        assert not refused.allowed and refused.retry_after_s == 40
        assert (await limiter.hit_async("a", now + 40)).remaining == 1  # the next window
        await loop_client.aclose()

    asyncio.run(main())
