"""billing: price list and VM metering spans

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "billing_price",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("vcpu_hour", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("ram_gb_hour", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("ip_hour", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("effective_from"),
    )
    op.create_table(
        "meter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=64), nullable=False),
        sa.Column("cluster", sa.String(length=255), nullable=False),
        sa.Column("vm_id", sa.Integer(), nullable=False),
        sa.Column("vm_name", sa.String(length=255), nullable=False),
        sa.Column("running", sa.Boolean(), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("ram_gb", sa.Integer(), nullable=False),
        sa.Column("public_ips", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("opened_by", sa.String(length=16), nullable=False),
        sa.Column("closed_by", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("meter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meter_project"), ["project"], unique=False)
        batch_op.create_index(batch_op.f("ix_meter_vm_id"), ["vm_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("meter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meter_vm_id"))
        batch_op.drop_index(batch_op.f("ix_meter_project"))
    op.drop_table("meter")
    op.drop_table("billing_price")
