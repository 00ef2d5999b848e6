"""custom domains of services

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloudfaster.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = cloudfaster.db.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "service_domains",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=253), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("checked_at", UTC(), nullable=True),
        sa.Column("active_at", UTC(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["docker_services.id"],
            name=op.f("fk_service_domains_service_id_docker_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_domains")),
        sa.UniqueConstraint("hostname", name=op.f("uq_service_domains_hostname")),
    )
    op.create_index(op.f("ix_service_domains_service_id"), "service_domains", ["service_id"])


def downgrade() -> None:
    op.drop_table("service_domains")
