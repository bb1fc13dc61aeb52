"""Chain formats: ``trials.chain_format`` records how each trial's hash chain is encoded.

Every trial that exists when this runs was written in format 1 (orjson canonical JSON,
checkpoints beside the chain) and keeps it: the column's default is 1, so old trials still
verify. New live trials are written in format 2 (RFC 8785, checkpoints linked into the
chain); see ``flagship.telemetry._chain_format``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("trials", sa.Column("chain_format", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("chain_format")
