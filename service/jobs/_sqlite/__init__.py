"""The SQLite backend: one file, WAL, one connection per process driven through a runner."""

from .store import SQLiteStore

__all__ = ["SQLiteStore"]
