"""First start: make sure an admin key exists."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cloudfaster.core import apikeys
from cloudfaster.core import keys as key_service
from cloudfaster.db.engine import Database
from cloudfaster.db.models import ApiKey

log = logging.getLogger("cloudfaster.bootstrap")


async def ensure_admin_key(db: Database, configured: str | None) -> str | None:
    """Store the configured admin key if it is not stored yet; with none configured and no valid admin key,
    generate one. Returns a generated token (to show once), else None."""
    try:
        async with db.write() as session:
            if configured:
                prefix = apikeys.lookup_prefix(configured)
                exists = (await session.execute(select(ApiKey.id).where(ApiKey.prefix == prefix))).first()
                if exists is None:
                    await key_service.create_key(session, user=None, name="bootstrap (configured)", token=configured)
                    log.info("stored the configured admin API key (prefix %s)", prefix)
                return None
            if await key_service.count_admin_keys(session):
                return None
            created = await key_service.create_key(session, user=None, name="bootstrap (generated)")
            log.warning("no admin API key existed: generated one (prefix %s), shown once", created.key.prefix)
            return created.token
    except IntegrityError:  # another replica bootstrapped at the same moment
        return None
