"""Live pilot trial log: trials, their hash-chained action log, signed checkpoints.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "trials",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("scenario", JSONType, nullable=False),
        sa.Column("scenario_sha256", sa.String(64), nullable=False),
        sa.Column("epoch", sa.Float(), nullable=False),
        sa.Column("time_factor", sa.Float(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trials")),
    )
    op.create_table(
        "trial_log",
        sa.Column("trial_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("mechanism", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(100), nullable=True),
        sa.Column("effects", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("idempotency_key", sa.String(600), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("clock", sa.Float(), nullable=True),
        sa.Column("state_hash", sa.String(64), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE",
                                name=op.f("fk_trial_log_trial_id_trials")),
        sa.PrimaryKeyConstraint("trial_id", "seq", name=op.f("pk_trial_log")),
        sa.UniqueConstraint("trial_id", "idempotency_key", name="uq_trial_log_idempotency"),
    )
    op.create_table(
        "trial_checkpoints",
        sa.Column("trial_id", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE",
                                name=op.f("fk_trial_checkpoints_trial_id_trials")),
        sa.PrimaryKeyConstraint("trial_id", "size", name=op.f("pk_trial_checkpoints")),
    )


def downgrade() -> None:
    for table in ("trial_checkpoints", "trial_log", "trials"):
        op.drop_table(table)
