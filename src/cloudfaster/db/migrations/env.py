"""Alembic environment: runs on the connection handed over by cloudfaster.db.migrate."""

from __future__ import annotations

from alembic import context

from cloudfaster.db import models  # noqa: F401  (registers the tables)
from cloudfaster.db.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `cloudfaster db upgrade`")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
