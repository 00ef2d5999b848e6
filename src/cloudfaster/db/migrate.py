"""Run Alembic migrations programmatically, on the application's own async engine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from cloudfaster.db.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
REVISION = re.compile(r"^revision(?:: str)? = \"([^\"]+)\"", re.MULTILINE)
DOWN_REVISION = re.compile(r"^down_revision(?:: [^=]+)? = (.+)$", re.MULTILINE)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def script_heads() -> set[str]:
    """The head revisions of the packaged migrations, read from their files (without loading Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = script.read_text()
        revision, down = REVISION.search(source), DOWN_REVISION.search(source)
        if revision is None or down is None:
            raise ValueError(f"{script.name} names no revision or down_revision")
        revisions.add(revision.group(1))
        parents.update(re.findall(r"\"([^\"]+)\"", down.group(1)))
    return revisions - parents


def _is_current(connection: Connection) -> bool:
    if not inspect(connection).has_table("alembic_version"):
        return False
    stamped = {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}
    return stamped == script_heads()


async def upgrade_to_head(database: Database) -> None:
    """Apply every pending migration; a database already at head is left alone without loading Alembic, whose
    modules would otherwise stay resident (11 MB) in every server."""

    def _upgrade(connection: Connection) -> None:
        from alembic import command

        command.upgrade(alembic_config(connection), "head")

    async with database.write_engine.begin() as conn:
        if await conn.run_sync(_is_current):
            return
        await conn.run_sync(_upgrade)
