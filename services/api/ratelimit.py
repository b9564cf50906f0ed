"""Per-client fixed-window rate limit on job creation, counted in Redis (shared by all api
replicas). One pipelined round trip: INCR + EXPIRE."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis


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

    def hit(self, subject: str, now: float | None = None) -> RateDecision:
        now = time.time() if now is None else now
        window = int(now // self.window_s)
        key = f"{self.prefix}:{subject}:{window}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, self.window_s + 1)
        count = int(pipe.execute()[0])
        if count <= self.limit:
            return RateDecision(True, self.limit - count, 0)
        reset_in_s = (window + 1) * self.window_s - now
        return RateDecision(False, 0, max(1, math.ceil(reset_in_s)))
