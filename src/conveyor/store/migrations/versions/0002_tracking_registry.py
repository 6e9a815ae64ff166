"""Tracking (tags, latest metrics, artifacts, logged models) and the model registry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TS = sa.DateTime(timezone=True)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _run_fk(primary_key: bool = True) -> sa.Column:
    return sa.Column(
        "run_id",
        sa.String(32),
        sa.ForeignKey("runs.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("name", sa.String(255), nullable=True))
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="pipeline")
        )
    with op.batch_alter_table("params") as batch:
        batch.add_column(sa.Column("text", sa.Text(), nullable=True))
        batch.create_index("ix_params_key_text", ["key", "text"])
    op.create_table(
        "tags",
        _run_fk(),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_index("ix_tags_key_value", "tags", ["key", "value"])
    op.create_table(
        "latest_metrics",
        _run_fk(),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    op.create_table(
        "run_artifacts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _run_fk(primary_key=False),
        sa.Column("stage", sa.String(255), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_run_artifacts_run_id", "run_artifacts", ["run_id"])
    op.create_table(
        "logged_models",
        sa.Column("id", sa.String(32), primary_key=True),
        _run_fk(primary_key=False),
        sa.Column("stage", sa.String(255), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("flavor", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_logged_models_run_id", "logged_models", ["run_id"])
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    _model_fk = sa.ForeignKey("registered_models.name", ondelete="CASCADE")
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(255), _model_fk, primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("model_id", sa.String(32), sa.ForeignKey("logged_models.id"), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_table(
        "model_aliases",
        sa.Column(
            "name",
            sa.String(255),
            sa.ForeignKey("registered_models.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_table(
        "model_tags",
        sa.Column(
            "name",
            sa.String(255),
            sa.ForeignKey("registered_models.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_model_events_name", "model_events", ["name", "at"])


def downgrade() -> None:
    for table in (
        "model_events",
        "model_tags",
        "model_aliases",
        "model_versions",
        "registered_models",
        "logged_models",
        "run_artifacts",
        "latest_metrics",
        "tags",
    ):
        op.drop_table(table)
    with op.batch_alter_table("params") as batch:
        batch.drop_index("ix_params_key_text")
        batch.drop_column("text")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("kind")
        batch.drop_column("name")
