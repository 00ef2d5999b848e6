"""deployment history, service environment variables, push webhooks

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloudfaster.db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = cloudfaster.db.base.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("docker_services") as batch:
        batch.add_column(sa.Column("env", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("webhook_token_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("webhook_secret", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_docker_services_webhook_token_hash"), ["webhook_token_hash"])
    op.create_table(
        "service_deployments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.String(length=36), nullable=False),
        sa.Column("source_type", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=True),
        sa.Column("source_digest", sa.String(length=64), nullable=True),
        sa.Column("rollback_of", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("kept", sa.Boolean(), nullable=False),
        sa.Column("started_at", UTC(), nullable=False),
        sa.Column("finished_at", UTC(), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["docker_services.id"],
            name=op.f("fk_service_deployments_service_id_docker_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_deployments")),
        sa.UniqueConstraint("operation_id", name=op.f("uq_service_deployments_operation_id")),
        sa.UniqueConstraint("service_id", "number", name=op.f("uq_service_deployments_service_id_number")),
    )
    op.create_index(op.f("ix_service_deployments_service_id"), "service_deployments", ["service_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_service_deployments_service_id"), table_name="service_deployments")
    op.drop_table("service_deployments")
    with op.batch_alter_table("docker_services") as batch:
        batch.drop_constraint(op.f("uq_docker_services_webhook_token_hash"), type_="unique")
        batch.drop_column("webhook_secret")
        batch.drop_column("webhook_token_hash")
        batch.drop_column("env")
