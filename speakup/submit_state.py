"""The state file of `speakup submit`: one entry per recording, saved after every step.

Written atomically (a temporary file, then rename) with mode 0600, since it holds job tokens;
a file whose size, modification time or options changed since the last run starts again.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from rich.table import Table

FORMAT_VERSION = 1


@dataclass
class Entry:
    path: str  # relative to the submitted folder
    size_bytes: int
    mtime_ns: int
    options_key: str
    phase: str = "new"  # new → created → submitted → done | failed | rejected
    job_id: str | None = None
    token: str | None = None
    output: str | None = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    deletion: dict[str, Any] | None = None


class StateFile:
    def __init__(self, path: Path, api_url: str) -> None:
        self.path, self.api_url = path, api_url
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        if path.exists():
            data = json.loads(path.read_text())
            if data.get("api") == api_url:  # tokens of another service mean nothing here
                known = {f.name for f in fields(Entry)}
                for raw in data.get("entries", {}).values():
                    entry = Entry(**{k: v for k, v in raw.items() if k in known})
                    self._entries[entry.path] = entry

    def get(self, path: str) -> Entry | None:
        return self._entries.get(path)

    def entry_for(self, root: Path, file: Path, options_key: str, retry_failed: bool) -> Entry:
        """The saved entry when it still describes this file and these options, else a new one."""
        stat = file.stat()
        rel = str(file.relative_to(root))
        entry = self._entries.get(rel)
        same = (entry is not None and entry.size_bytes == stat.st_size
                and entry.mtime_ns == stat.st_mtime_ns and entry.options_key == options_key)
        if not same:
            entry = Entry(rel, stat.st_size, stat.st_mtime_ns, options_key)
        assert entry is not None
        if entry.phase == "rejected" and retry_failed:
            entry.phase, entry.job_id, entry.token = "new", None, None
        self.put(entry)
        return entry

    def put(self, entry: Entry) -> None:
        with self._lock:
            self._entries[entry.path] = entry
            body = {"format_version": FORMAT_VERSION, "api": self.api_url,
                    "entries": {k: asdict(v) for k, v in sorted(self._entries.items())}}
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(body, handle, indent=1)
            os.replace(tmp, self.path)


def _num(value: Any, unit: str = "") -> str:
    return f"{value:.1f}{unit}" if isinstance(value, int | float) else "–"


SHOW_ALL_UP_TO = 50


def summary_table(entries: list[Entry | None]) -> Table:
    known = [e for e in entries if e is not None]
    counts = {phase: sum(e.phase == phase for e in known) for phase in ("done", "rejected")}
    others = len(known) - sum(counts.values())
    table = Table(title=f"speakup submit: {counts['done']} done, {counts['rejected']} rejected, "
                        f"{others} failed or unfinished", title_justify="left")
    for name, justify in (("file", "left"), ("status", "left"), ("duration", "right"),
                          ("LUFS in → out", "right"), ("result", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    # A back catalogue of thousands: list everything only when short, else just the problems.
    shown = known if len(known) <= SHOW_ALL_UP_TO else [e for e in known if e.phase != "done"]
    for e in shown:
        m = e.metrics or {}
        status = {"done": "[green]done[/green]", "rejected": "[yellow]rejected[/yellow]"}.get(
            e.phase, f"[red]{e.phase}[/red]")
        result = e.output if e.phase == "done" else (e.error or {}).get("message", "")
        erased = " (erased)" if e.deletion else ""
        table.add_row(e.path, status, _num(m.get("output_duration_s"), " s"),
                      f"{_num(m.get('input_lufs'))} → {_num(m.get('output_lufs'))}",
                      f"{result}{erased}" if e.phase == "done" else str(result))
    return table
