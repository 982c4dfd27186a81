"""A small disk cache for search results and fetched pages: SQLite, text values, size and age limits.

Rollouts repeat the same searches and open the same pages (many rollouts per question in RL),
so caching saves API calls and time. Values are plain text (no pickling), entries older than
`max_age_s` are misses, and when the cache passes `max_bytes` the oldest entries go first.
SQLite's own locking makes one cache file safe to share between processes.
"""

import sqlite3
import time
from pathlib import Path

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cache "
    "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL, size INTEGER NOT NULL)"
)


class DiskCache:
    def __init__(self, path: Path, max_bytes: int, max_age_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        # autocommit mode; the timeout rides out another process's write lock
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(SCHEMA)
        self.db.execute("CREATE INDEX IF NOT EXISTS cache_created ON cache (created)")

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value, created FROM cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if time.time() - row[1] > self.max_age_s:
            self.db.execute("DELETE FROM cache WHERE key = ?", (key,))
            return None
        return row[0]

    def set(self, key: str, value: str) -> None:
        size = len(value.encode())
        if size > self.max_bytes:
            return  # would evict everything else and still not fit
        self.db.execute("INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?)", (key, value, time.time(), size))
        self.evict()

    def evict(self) -> None:
        """Drop expired entries, then the oldest ones until the total size fits."""
        self.db.execute("DELETE FROM cache WHERE created < ?", (time.time() - self.max_age_s,))
        total = self.db.execute("SELECT COALESCE(SUM(size), 0) FROM cache").fetchone()[0]
        if total <= self.max_bytes:
            return
        excess, doomed = total - self.max_bytes, []
        for key, size in self.db.execute("SELECT key, size FROM cache ORDER BY created").fetchall():
            doomed.append((key,))
            excess -= size
            if excess <= 0:
                break
        self.db.executemany("DELETE FROM cache WHERE key = ?", doomed)
