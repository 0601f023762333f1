"""Content-addressed result cache: one small JSON file per (file bytes, rule set, version) key.

Entries are written to a temporary file and renamed into place, so concurrent runs never see half an entry; a
missing, deleted or corrupt entry is a miss, and a cache that cannot be written is simply not used.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

CACHE_VERSION = "v1"


class Cache:
    def __init__(self, root: str) -> None:
        self.root = Path(root) / CACHE_VERSION
        self.writable = True
        self.used: set[Path] = set()  # entries this run read or wrote (what `prune` keeps)

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str) -> object | None:
        path = self._path(kind, key)
        try:
            with open(path, "rb") as handle:
                value = json.loads(handle.read())
        except (OSError, ValueError):
            return None
        self.used.add(path)
        return value

    def put(self, kind: str, key: str, value: object) -> None:
        if not self.writable:
            return
        target = self._path(kind, key)
        payload = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        for _ in range(2):  # a second try after re-creating a folder someone deleted mid-run
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._mark_root()
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
                try:
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(payload)
                    os.replace(tmp, target)
                    self.used.add(target)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                return
            except FileNotFoundError:
                continue
            except OSError:
                self.writable = False
                return

    def prune(self) -> int:
        """Delete every entry this run did not use: a CI cache restored and saved on each run then holds what the
        current tree needs, not every version of every file it ever saw. Returns how many were deleted."""
        deleted = 0
        if not self.root.is_dir():
            return 0
        for path in self.root.glob("*/*/*.json"):
            if path not in self.used:
                try:
                    path.unlink()
                    deleted += 1
                except OSError:
                    pass
        return deleted

    def _mark_root(self) -> None:
        # Like ruff's cache folder: ignored by git without the user editing .gitignore.
        marker = self.root.parent / ".gitignore"
        if not marker.exists():
            try:
                marker.write_text("# Automatically created by gapcheck.\n*\n", encoding="utf-8")
            except OSError:
                pass
