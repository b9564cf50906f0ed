"""Fixtures every test may use.

Real servers: tests/servers.py (Redis, S3) and tests/stackutil.py (the whole stack).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.servers"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def real_data_dir() -> Path:
    """The one setting for the real recordings: SPEAKUP_DATA_DIR, default ../shared/data."""
    return Path(os.environ.get("SPEAKUP_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Real recordings (clean/, noise/, rir/, pairs/, real_noisy/); skips where absent."""
    path = real_data_dir()
    if not (path / "clean").is_dir():
        pytest.skip(f"real recordings not found at {path} (set SPEAKUP_DATA_DIR)")
    return path
