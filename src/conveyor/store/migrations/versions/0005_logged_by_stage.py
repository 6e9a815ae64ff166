"""Params and metrics remember the stage whose script logged them (NULL: not a stage).

A stage restored from the run cache does not execute, so its script logs nothing: the
runner copies what the stage logged in the run that produced the outs, and needs to know
which values those were.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("params", sa.Column("stage", sa.String(255), nullable=True))
    op.add_column("metrics", sa.Column("stage", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("metrics") as batch:
        batch.drop_column("stage")
    with op.batch_alter_table("params") as batch:
        batch.drop_column("stage")
