"""Database access: engine, sessions, tables, migrations."""

from hub.db.engine import dispose_engines, get_engine, get_sessionmaker, make_engine, session_scope
from hub.db.migrate import upgrade

__all__ = ["dispose_engines", "get_engine", "get_sessionmaker", "make_engine", "session_scope", "upgrade"]
