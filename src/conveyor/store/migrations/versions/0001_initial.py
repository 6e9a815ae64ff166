"""Runs, stage runs, params, metrics and the run cache.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("git_branch", sa.String(255), nullable=True),
        sa.Column("git_dirty", sa.Boolean(), nullable=True),
        sa.Column("user", sa.String(255), nullable=True),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
    )
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_table(
        "stage_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("stage", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("stdout_digest", sa.String(64), nullable=True),
        sa.Column("stderr_digest", sa.String(64), nullable=True),
        sa.Column("deps", sa.JSON(), nullable=False),
        sa.Column("outs", sa.JSON(), nullable=False),
    )
    op.create_index("ix_stage_runs_run_id", "stage_runs", ["run_id"])
    op.create_index("ix_stage_runs_stage", "stage_runs", ["stage"])
    op.create_table(
        "params",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("logged_at", TS, nullable=False),
    )
    op.create_index("ix_metrics_run_key", "metrics", ["run_id", "key"])
    op.create_table(
        "stage_cache",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("stage", sa.String(255), nullable=False),
        sa.Column("outs", sa.JSON(), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("stage_cache", "metrics", "params", "stage_runs", "runs"):
        op.drop_table(table)
