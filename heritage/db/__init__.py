"""Storage layer: the relational database (SQLite by default, PostgreSQL for scale-out)."""

from heritage.db.base import Base, utcnow
from heritage.db.engine import Database

__all__ = ["Base", "Database", "utcnow"]
