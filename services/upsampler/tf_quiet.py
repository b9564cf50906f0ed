"""TensorFlow's start-up chatter kept off stderr, its errors kept on it.

TensorFlow 2.21 logs "oneDNN custom operations are on" (INFO) through absl from both of its native
libraries, before absl is initialised, whatever `TF_CPP_MIN_LOG_LEVEL` says; turning oneDNN off
(`TF_ENABLE_ONEDNN_OPTS=0`) would silence it by changing the numerics. So the first
`import tensorflow` runs with file descriptor 2 captured, and what it wrote goes back to stderr
except INFO lines and absl's preamble: a warning, an error or a traceback still shows.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

_CHATTER = re.compile(
    rb"^(I\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR)"
)


@contextlib.contextmanager
def stderr_without_chatter(also: re.Pattern[bytes] | None = None) -> Iterator[None]:
    """While inside: fd 2 goes to a temporary file; afterwards all but the chatter (and lines
    matching `also`) goes back."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = b"".join(line for line in captured if not _CHATTER.match(line)
                            and not (also is not None and also.match(line)))
            if kept:
                os.write(2, kept)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of the top-level `tensorflow` package, once."""

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def quiet_exec(module: ModuleType) -> None:
            with stderr_without_chatter():
                exec_module(module)

        loader.exec_module = quiet_exec  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Before TensorFlow loads: its C++ INFO/WARNING off (a value already set wins), Python-side
    loggers at ERROR, Python warnings raised inside TensorFlow/Keras ignored, the import quiet."""
    import logging
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|tf_keras)(\.|$)")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0" and "tensorflow" not in sys.modules and not any(
        isinstance(f, _QuietImport) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietImport())
