"""The hostile corpus's parts: a case, the registry every case joins, and the signals most
cases are made of (tests/hostile_corpus.py explains the corpus)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from tests.media import pcm16, tone, wav_bytes


class HostileCase(NamedTuple):
    name: str
    data: bytes
    expected_code: str | None


CASES: list[Callable[[], HostileCase]] = []


def case(fn: Callable[[], HostileCase]) -> Callable[[], HostileCase]:
    CASES.append(fn)
    return fn


def _speech_like(duration_s: float = 1.0, rate_hz: int = 16000, channels: int = 1) -> np.ndarray:
    return tone(220.0, duration_s, rate_hz, channels, amplitude=0.3)


def _wav16(**kwargs: object) -> bytes:
    return wav_bytes(pcm16(_speech_like()), **kwargs)  # type: ignore[arg-type]


def _float_wav(samples: np.ndarray) -> bytes:
    return wav_bytes(samples.astype("<f4").tobytes(), bits=32, format_tag=3)
