"""Alembic environment for the history store (audit/history/store.py). The store opens a connection
and passes it in `config.attributes["connection"]`; `alembic -x url=...` works for manual use.
render_as_batch: SQLite cannot ALTER most things, batch mode rebuilds tables instead, and the
same migration then runs unchanged on PostgreSQL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from audit.history.store import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url")
    if not url:
        raise RuntimeError("pass -x url=DATABASE_URL")
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
