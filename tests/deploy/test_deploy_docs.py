"""docs/deploy.md names only settings, files and queues that exist."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from deploy_common import REPO_ROOT, unknown_env_keys  # noqa: E402

from shared.tasks import QUEUES  # noqa: E402

DOC = REPO_ROOT / "docs" / "deploy.md"


def test_every_setting_named_in_the_docs_exists() -> None:
    named = set(re.findall(r"\bSPEAKUP_[A-Z0-9_]+\b", DOC.read_text()))
    assert len(named) >= 10
    assert not unknown_env_keys(named)


def test_every_repo_path_named_in_the_docs_exists() -> None:
    paths = set(
        re.findall(r"`((?:deploy|tests|shared|models|requirements)/[\w./-]*?)`", DOC.read_text())
    )
    paths = {p.replace("<service>", "api") for p in paths}
    assert len(paths) >= 8
    missing = [p for p in paths if not (REPO_ROOT / p).exists() and "models/" not in p]
    assert not missing


def test_queue_names_in_the_docs_are_the_code_s() -> None:
    text = DOC.read_text()
    assert all(f"`{queue}`" in text or f"-Q {queue}" in text for queue in QUEUES)
