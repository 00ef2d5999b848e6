"""deleted services keep no push webhook and no kept deployment (a delete now clears both)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

services = sa.table(
    "docker_services",
    sa.column("id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("webhook_token_hash", sa.String()),
    sa.column("webhook_secret", sa.String()),
)
deployments = sa.table("service_deployments", sa.column("service_id", sa.Integer()), sa.column("kept", sa.Boolean()))


def upgrade() -> None:
    deleted = sa.select(services.c.id).where(services.c.status == "deleted")
    op.execute(
        services.update().where(services.c.status == "deleted").values(webhook_token_hash=None, webhook_secret=None)
    )
    op.execute(deployments.update().where(deployments.c.service_id.in_(deleted)).values(kept=sa.false()))


def downgrade() -> None:
    """Nothing to put back: the secrets and the kept sources are gone."""
