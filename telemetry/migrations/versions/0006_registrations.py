"""Locked analysis plans: a ``registrations`` table of criteria files (text, SHA-256, time).

``flagship preregister CRITERIA --db URL`` stores a criteria file before a sweep runs;
``flagship evaluate`` then reports whether the criteria it judges with were registered
before the sweep's first run was stored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.String(500), nullable=False, server_default=""),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
    )
    op.create_index(op.f("ix_registrations_sha256"), "registrations", ["sha256"])


def downgrade() -> None:
    op.drop_index(op.f("ix_registrations_sha256"), table_name="registrations")
    op.drop_table("registrations")
