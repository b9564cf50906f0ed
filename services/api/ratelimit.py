"""Per-client fixed-window rate limit on job creation, counted in Redis (shared by all api
replicas). One round trip: INCR + EXPIRE in a script (a redis-py pipeline object costs more
CPU than the call itself)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

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
        self, client: redis.Redis, limit: int, window_s: int = 60, prefix: str = "speakup:rl"
    ) -> None:
        self.redis = client
        self.limit = limit
        self.window_s = window_s
        self.prefix = prefix
        self._hit = client.register_script(_HIT)

    def hit(self, subject: str, now: float | None = None) -> RateDecision:
        now = time.time() if now is None else now
        window = int(now // self.window_s)
        key = f"{self.prefix}:{subject}:{window}"
        count = int(self._hit(keys=[key], args=[self.window_s + 1]))
        if count <= self.limit:
            return RateDecision(True, self.limit - count, 0)
        reset_in_s = (window + 1) * self.window_s - now
        return RateDecision(False, 0, max(1, math.ceil(reset_in_s)))
