"""Where shipped checkpoints, model cards and measured scores live.

`SPEAKUP_MODELS_DIR`, else the repository's models/ folder. The images install the code as a
package (site-packages), where a path relative to a source file cannot find /app/models: the
Dockerfiles set SPEAKUP_MODELS_DIR. A per-file variable (e.g. SPEAKUP_ERBNET_CHECKPOINT) still
names one file anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def models_dir() -> Path:
    return Path(os.environ.get("SPEAKUP_MODELS_DIR") or REPO_MODELS_DIR)


def model_file(relative_path: str, env_var: str | None = None) -> Path:
    """models_dir()/relative_path, unless `env_var` is set: then the file it names."""
    if env_var and os.environ.get(env_var):
        return Path(os.environ[env_var])
    return models_dir() / relative_path
