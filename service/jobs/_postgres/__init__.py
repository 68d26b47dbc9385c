"""The PostgreSQL backend: many processes on many hosts, wake-ups by LISTEN/NOTIFY."""

from .placeholders import to_psycopg
from .store import PostgresStore
from .transaction import PostgresTransaction

__all__ = ["PostgresStore", "PostgresTransaction", "to_psycopg"]
