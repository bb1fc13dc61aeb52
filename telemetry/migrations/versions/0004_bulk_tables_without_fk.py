"""Drop the foreign keys of the bulk tables (actions, series).

A foreign key on a bulk-loaded table costs a trigger call per row on PostgreSQL,
which made COPY of an action log about five times slower. Rows of these tables
are only ever written in the same transaction as their run, and the store deletes
them explicitly with their run, so the constraint bought nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.drop_constraint("fk_actions_run_id_runs", type_="foreignkey")
    with op.batch_alter_table("series") as batch:
        batch.drop_constraint("fk_series_run_id_runs", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("series") as batch:
        batch.create_foreign_key("fk_series_run_id_runs", "runs", ["run_id"], ["id"], ondelete="CASCADE")
    with op.batch_alter_table("actions") as batch:
        batch.create_foreign_key("fk_actions_run_id_runs", "runs", ["run_id"], ["id"], ondelete="CASCADE")
