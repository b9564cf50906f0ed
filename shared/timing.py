"""Seconds per stage of the chain, one clock for the in-process pipeline and the workers alike:
`stage_seconds` in a job's metrics and in `speakup enhance --json`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

# In chain order: decode & validate (and measure the input), the enhancer at 16 kHz, keeping the
# input's own band above 8 kHz (`bandsplit`), super-resolution to the output rate, (resampling
# and) mastering, encoding the delivered file, the quality report. A stage that did not run
# reads 0.
STAGES = ("decode", "enhance", "fullband", "upsample", "master", "encode", "quality")


class StageClock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if name not in self.seconds:
            raise KeyError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def rounded(self, *names: str) -> dict[str, float]:
        """``names`` (all stages when none) rounded to milliseconds, for metrics."""
        return {name: round(self.seconds[name], 3) for name in names or STAGES}
