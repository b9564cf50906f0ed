"""Debian packages as a data source: `apt-get download` a .deb, `dpkg-deb -x` it, nothing installed.

A fetcher turns a package name into an extracted tree and the version it came from. The apt one
keeps the .deb files in a cache folder, so a rebuild needs no network; a folder one stands in
for it in tests and for trees extracted by hand.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    root: Path  # the extracted tree: usr/share/...
    sha256: str = ""  # of the .deb


class Fetcher(Protocol):
    def fetch(self, name: str) -> Package:
        """The extracted package; raises FetchError when it cannot be had."""
        ...

    def release(self, package: Package) -> None:
        """Done with the extracted tree (it may be deleted)."""
        ...


class FetchError(RuntimeError):
    pass


def _run(args: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise FetchError(f"{' '.join(args)}: {message[-1] if message else result.returncode}")
    return result.stdout


class AptFetcher:
    """`apt-get download` into cache_dir/debs, `dpkg-deb -x` into cache_dir/extract/<name>."""

    def __init__(self, cache_dir: Path) -> None:
        self.debs = cache_dir / "debs"
        self.extract = cache_dir / "extract"

    def fetch(self, name: str) -> Package:
        for tool in ("apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise FetchError(f"{tool} not found: this builder needs a Debian-based system")
        self.debs.mkdir(parents=True, exist_ok=True)
        cached = sorted(self.debs.glob(f"{name}_*.deb"))
        if not cached:
            try:
                _run(["apt-get", "download", "-q", name], cwd=self.debs)
            except FetchError as error:
                hint = ""
                if any(m in str(error) for m in ("Unable to locate", "no installation candidate")):
                    hint = " (not in the apt lists: run `apt-get update`, or the package is gone)"
                raise FetchError(f"cannot download {name}: {error}{hint}") from error
            cached = sorted(self.debs.glob(f"{name}_*.deb"))
            if not cached:
                raise FetchError(f"apt-get download {name} left no .deb in {self.debs}")
        deb = cached[-1]
        version = _run(["dpkg-deb", "-f", str(deb), "Version"]).strip()
        root = self.extract / name
        done = root / ".extracted"
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            _run(["dpkg-deb", "-x", str(deb), str(root)])
            done.write_text(version + "\n")
        return Package(name, version, root, _sha256(deb))

    def release(self, package: Package) -> None:
        shutil.rmtree(package.root, ignore_errors=True)  # the .deb stays in the cache


class FolderFetcher:
    """Packages already extracted: {name: (root, version)}."""

    def __init__(self, trees: dict[str, tuple[Path, str]]) -> None:
        self.trees = trees

    def fetch(self, name: str) -> Package:
        if name not in self.trees:
            raise FetchError(f"no extracted tree for {name}")
        root, version = self.trees[name]
        return Package(name, version, Path(root))

    def release(self, package: Package) -> None:
        pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
