"""Initial schema: sweeps, runs, actions, measures, summaries, series.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spec", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("sweep_id", sa.String(64), nullable=False),
        sa.Column("cell", sa.String(200), server_default="", nullable=False),
        sa.Column("arm", sa.String(200), server_default="", nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("replication", sa.Integer(), nullable=False),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("manifest", JSONType, nullable=False),
        sa.Column("wall_seconds", sa.Float(), nullable=False),
        sa.Column("sim_time", sa.Float(), nullable=False),
        sa.Column("n_actions", sa.BigInteger(), nullable=False),
        sa.Column("action_log_sha256", sa.String(64), nullable=True),
        sa.Column("state_sha256", sa.String(64), nullable=True),
        sa.Column("events", JSONType, nullable=False),
        sa.Column("counters", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"], ondelete="CASCADE",
                                name=op.f("fk_runs_sweep_id_sweeps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("sweep_id", "cell", "arm", "seed", name="uq_runs_result_key"),
    )
    op.create_table(
        "actions",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("mechanism", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(100), nullable=True),
        sa.Column("effects", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name=op.f("fk_actions_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_actions")),
    )
    op.create_table(
        "measures",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("area", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("higher_is_better", sa.Boolean(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name=op.f("fk_measures_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", "scope", "name", name=op.f("pk_measures")),
    )
    op.create_table(
        "summaries",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("p50", sa.Float(), nullable=False),
        sa.Column("p90", sa.Float(), nullable=False),
        sa.Column("p99", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name=op.f("fk_summaries_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", "scope", "name", name=op.f("pk_summaries")),
    )
    op.create_table(
        "series",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name=op.f("fk_series_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", "scope", "name", "time", name=op.f("pk_series")),
    )


def downgrade() -> None:
    for table in ("series", "summaries", "measures", "actions", "runs", "sweeps"):
        op.drop_table(table)
