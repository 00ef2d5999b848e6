"""names unique per owner, IP pools and addresses, VM sizes, console tickets

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloudfaster.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = cloudfaster.db.base.UTCDateTime


def _active_names(table: str, name_column: str) -> None:
    """``active_name`` of every row that is not deleted, keeping the oldest where a user has a name twice."""
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("active_name", sa.String(length=128 if table == "proxmox_vms" else 64)))
    rows = sa.table(table, sa.column("id"), sa.column("user_id"), sa.column(name_column), sa.column("status"),
                    sa.column("active_name"))  # fmt: skip
    oldest = (
        sa.select(sa.func.min(rows.c.id))
        .where(rows.c.status != "deleted")
        .group_by(rows.c.user_id, rows.c[name_column])
        .scalar_subquery()
    )
    op.execute(rows.update().where(rows.c.id.in_(oldest)).values(active_name=rows.c[name_column]))
    with op.batch_alter_table(table) as batch:
        batch.create_unique_constraint(op.f(f"uq_{table}_user_id_active_name"), ["user_id", "active_name"])


def upgrade() -> None:
    _active_names("proxmox_vms", "name")
    _active_names("docker_services", "service_name")
    op.create_table(
        "ip_pools",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("gateway", sa.String(length=45), nullable=True),
        sa.Column("dns_servers", sa.JSON(), nullable=False),
        sa.Column("search_domain", sa.String(length=253), nullable=True),
        sa.Column("bridge", sa.String(length=64), nullable=False),
        sa.Column("vlan", sa.Integer(), nullable=True),
        sa.Column("nodes", sa.JSON(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_pools")),
        sa.UniqueConstraint("name", name=op.f("uq_ip_pools_name")),
    )
    op.create_table(
        "ip_addresses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.Column("vmid", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["ip_pools.id"], name=op.f("fk_ip_addresses_pool_id_ip_pools"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_addresses")),
        sa.UniqueConstraint("pool_id", "address", name=op.f("uq_ip_addresses_pool_id_address")),
    )
    op.create_index(op.f("ix_ip_addresses_pool_id"), "ip_addresses", ["pool_id"])
    op.create_index(op.f("ix_ip_addresses_vmid"), "ip_addresses", ["vmid"])
    op.create_table(
        "vm_sizes",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_vm_sizes")),
    )
    op.create_table(
        "console_tickets",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("vmid", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("expires_at", UTC(), nullable=False),
        sa.Column("used_at", UTC(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_console_tickets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_tickets")),
    )
    op.create_index(op.f("ix_console_tickets_vmid"), "console_tickets", ["vmid"])
    op.create_index(op.f("ix_console_tickets_expires_at"), "console_tickets", ["expires_at"])


def downgrade() -> None:
    op.drop_table("console_tickets")
    op.drop_table("vm_sizes")
    op.drop_table("ip_addresses")
    op.drop_table("ip_pools")
    for table in ("docker_services", "proxmox_vms"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"uq_{table}_user_id_active_name"), type_="unique")
            batch.drop_column("active_name")
