"""Deployments: each model's routing table (routes, shadows, sticky key, revision).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TS = sa.DateTime(timezone=True)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column(
            "name",
            sa.String(255),
            sa.ForeignKey("registered_models.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("routes", sa.JSON(), nullable=False),
        sa.Column("shadows", sa.JSON(), nullable=False),
        sa.Column("sticky", sa.String(255), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("deployments")
