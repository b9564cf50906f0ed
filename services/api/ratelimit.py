"""Per-client fixed-window rate limit on job creation, counted in Redis (shared by all api
replicas). One round trip: INCR + EXPIRE in a script (a redis-py pipeline object costs more CPU
than the call itself); `hit_async` is the same call on the api's asyncio client, so a create does
not hold the event loop while Redis answers."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import redis

# KEYS: the window's counter. ARGV: its time to live (s). The count after this hit.
_HIT = """
local count = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return count
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    remaining: int
    retry_after_s: int  # seconds until the window resets (0 when allowed)


class FixedWindowLimiter:
    def __init__(
        self,
        client: redis.Redis,
        limit: int,
        window_s: int = 60,
        prefix: str = "speakup:rl",
        async_client: Any = None,
    ) -> None:
        self.redis = client
        self.limit = limit
        self.window_s = window_s
        self.prefix = prefix
        self._hit = client.register_script(_HIT)
        self._hit_async = async_client.register_script(_HIT) if async_client else None

    def hit(self, subject: str, now: float | None = None) -> RateDecision:
        now = time.time() if now is None else now
        count = self._hit(keys=[self._key(subject, now)], args=[self.window_s + 1])
        return self._decide(int(count), now)

    async def hit_async(self, subject: str, now: float | None = None) -> RateDecision:
        """`hit` on the asyncio client given to the constructor."""
        if self._hit_async is None:
            raise RuntimeError("FixedWindowLimiter was built without an async_client")
        now = time.time() if now is None else now
        count = await self._hit_async(keys=[self._key(subject, now)], args=[self.window_s + 1])
        return self._decide(int(count), now)

    def _key(self, subject: str, now: float) -> str:
        return f"{self.prefix}:{subject}:{int(now // self.window_s)}"

    def _decide(self, count: int, now: float) -> RateDecision:
        if count <= self.limit:
            return RateDecision(True, self.limit - count, 0)
        reset_in_s = (int(now // self.window_s) + 1) * self.window_s - now
        return RateDecision(False, 0, max(1, math.ceil(reset_in_s)))
