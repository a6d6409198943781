"""Alembic environment of the console database; run through ectui.db.session.Database.migrate."""

from __future__ import annotations

from alembic import context

from ectui.db.models import ConsoleBase as Base

connection = context.config.attributes.get("connection")
if connection is None:
    from ectui.db.session import make_engine

    connection = make_engine(context.config.get_main_option("sqlalchemy.url") or "").connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
