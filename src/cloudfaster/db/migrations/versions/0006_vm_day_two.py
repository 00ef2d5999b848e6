"""VM day two: delete protection, backups and their schedules, snapshot and backup quotas

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloudfaster.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = cloudfaster.db.base.UTCDateTime
QUOTAS = ("max_snapshots_per_vm", "max_backups", "max_backup_gb")


def upgrade() -> None:
    with op.batch_alter_table("proxmox_vms") as batch:
        batch.add_column(sa.Column("protected", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("users") as batch:
        for name in QUOTAS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
    op.create_table(
        "vm_backups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("vmid", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("os", sa.String(length=64), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("sshkeys", sa.Text(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("storage", sa.String(length=64), nullable=False),
        sa.Column("volid", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("scheduled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_detail", sa.JSON(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("finished_at", UTC(), nullable=True),
        sa.Column("deleted_at", UTC(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_vm_backups_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vm_backups")),
        sa.UniqueConstraint("volid", name=op.f("uq_vm_backups_volid")),
    )
    op.create_index(op.f("ix_vm_backups_user_id"), "vm_backups", ["user_id"])
    op.create_index(op.f("ix_vm_backups_vmid"), "vm_backups", ["vmid"])
    op.create_index(op.f("ix_vm_backups_status"), "vm_backups", ["status"])
    op.create_table(
        "vm_backup_schedules",
        sa.Column("vmid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("window_start_minute", sa.Integer(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("retention", sa.Integer(), nullable=False),
        sa.Column("next_run_at", UTC(), nullable=False),
        sa.Column("last_run_at", UTC(), nullable=True),
        sa.Column("last_backup_id", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.JSON(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("vmid", name=op.f("pk_vm_backup_schedules")),
    )
    op.create_index(op.f("ix_vm_backup_schedules_next_run_at"), "vm_backup_schedules", ["next_run_at"])


def downgrade() -> None:
    op.drop_table("vm_backup_schedules")
    op.drop_table("vm_backups")
    with op.batch_alter_table("users") as batch:
        for name in QUOTAS:
            batch.drop_column(name)
    with op.batch_alter_table("proxmox_vms") as batch:
        batch.drop_column("protected")
