"""Persistent LLM response cache: SQLite, keyed by a hash of model, prompt and parameters.

A rerun of a finished job answers every request from here and makes zero LLM calls. Only
complete, successful responses are stored; each write is its own transaction, so an interrupted
run leaves a consistent cache. Values are JSON (never pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from saescope.errors import ConfigError


def request_key(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of (model, messages, params)."""
    blob = json.dumps(
        {"model": model, "messages": messages, "params": params},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def default_cache_path() -> Path:
    """`$SAESCOPE_CACHE_DIR/llm_cache.sqlite`, else the user cache folder of saescope."""
    env = os.environ.get("SAESCOPE_CACHE_DIR")
    if env:
        return Path(env) / "llm_cache.sqlite"
    import platformdirs

    return Path(platformdirs.user_cache_dir("saescope")) / "llm_cache.sqlite"


class ResponseCache:
    """A key -> JSON value store in one SQLite file, safe to share between threads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                "key TEXT PRIMARY KEY, model TEXT, value TEXT NOT NULL, created REAL)"
            )
            self._conn.commit()
        except sqlite3.Error as exc:
            raise ConfigError(f"LLM cache {self.path}: cannot open ({exc})") from None
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, model: str, value: dict[str, Any]) -> None:
        blob = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, model, value, created) VALUES (?, ?, ?, ?)",
                (key, model, blob, time.time()),
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
