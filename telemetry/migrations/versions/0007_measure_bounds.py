"""Store each measure's range beside its value: ``measures.low`` and ``measures.high``.

A measure may narrow its unit's range (``Measure.bounds``: a share lies in [0, 1]), and
intervals, bands and differences are clipped to that range when a sweep is read back,
possibly by another version of the code than the one that ran it, so the range is stored
with every value. NULL is unbounded on that side; rows stored before this revision have
both NULL and are read with their unit's range, as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("measures") as batch:
        batch.add_column(sa.Column("low", sa.Float, nullable=True))
        batch.add_column(sa.Column("high", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("measures") as batch:
        batch.drop_column("high")
        batch.drop_column("low")
