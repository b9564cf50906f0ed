"""Process audio files of any length in overlapping blocks, so memory stays flat.

Blocks of `block_s` seconds advance by `block_s - overlap_s`; each is processed with `context_s` of
extra audio on both sides (so stateful engines warm up), and consecutive blocks are cross-faded over
their overlap with raised-cosine weights that sum to one (right for two estimates of one signal).
Output is written to disk as it is made.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

Transform = Callable[[np.ndarray], np.ndarray]
Progress = Callable[[float], None]


def crossfade_weights(n: int) -> np.ndarray:
    """Fade-in weights of length n; the matching fade-out is 1 - w."""
    t = (np.arange(max(n, 0), dtype=np.float64) + 0.5) / max(n, 1)
    return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)


def process_file(
    src: Path,
    dst: Path,
    transform: Transform,
    *,
    ratio: int = 1,
    block_s: float = 30.0,
    overlap_s: float = 0.5,
    context_s: float = 1.0,
    subtype: str = "FLOAT",
    progress: Progress | None = None,
    check: Callable[[], None] | None = None,
    workers: int = 1,
) -> int:
    """Stream `src` (mono WAV) through `transform` into `dst`; returns output samples written.

    `transform` maps n input samples to exactly n * ratio output samples (1 for enhancement, 3 for
    16 → 48 kHz). `check` runs between blocks (time limits, cancellation); `progress` gets 0..1.
    ``workers`` > 1 transforms that many blocks at once in threads (each block carries its own
    context, so they are independent; the output is the same) — for engines that release the GIL
    and run one thread each: two blocks on two cores beat one block on two threads.
    """
    info = sf.info(str(src))
    rate, total = info.samplerate, info.frames
    block = max(int(block_s * rate), 2)
    overlap = min(int(overlap_s * rate), block // 2)
    context = int(context_s * rate)
    hop = block - overlap
    written = 0
    pending = np.zeros(0, dtype=np.float32)  # the previous block's overlap, awaiting its partner
    in_flight: deque[tuple[int, int, int, int, Future[np.ndarray]]] = deque()
    with sf.SoundFile(str(src)) as reader, sf.SoundFile(
        str(dst), "w", samplerate=rate * ratio, channels=1, subtype=subtype, format="WAV"
    ) as writer, ThreadPoolExecutor(max(workers, 1)) as pool:
        for start in range(0, max(total, 1), hop):
            if check is not None:
                check()
            stop = min(start + block, total)
            read_start, read_stop = max(start - context, 0), min(stop + context, total)
            reader.seek(read_start)
            chunk = reader.read(read_stop - read_start, dtype="float32", always_2d=True)[:, 0]
            in_flight.append((start, stop, read_start, len(chunk), pool.submit(transform, chunk)))
            last = stop >= total
            while in_flight and (len(in_flight) >= max(workers, 1) or last):
                first, end, lead_start, n_in, future = in_flight.popleft()
                out = np.asarray(future.result(), dtype=np.float32).reshape(-1)
                if len(out) != n_in * ratio:
                    raise ValueError(f"transform gave {len(out)} samples for {n_in} × {ratio}")
                lead = (first - lead_start) * ratio
                region = out[lead : lead + (end - first) * ratio]
                n = len(pending)
                if n:
                    w = crossfade_weights(n)
                    writer.write(pending * (1.0 - w) + region[:n] * w)
                    written += n
                final = end >= total
                body_end = len(region) if final else len(region) - overlap * ratio
                writer.write(region[n:body_end])
                written += max(body_end - n, 0)
                pending = region[body_end:].copy()
                if progress is not None:
                    progress(end / total if total else 1.0)
            if last:
                break
    return written
