"""The store's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = [
    "actions",
    "measures",
    "metadata",
    "registrations",
    "runs",
    "series",
    "summaries",
    "sweeps",
    "trial_checkpoints",
    "trial_log",
    "trials",
]

# Named constraints so migrations can alter them on every backend (SQLite batch mode too).
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

sweeps = sa.Table(
    "sweeps",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # "run" (flagship run) or "sweep"
    sa.Column("scenario", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("spec", JSONType, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("sweep_id", sa.String(64), sa.ForeignKey("sweeps.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("cell", sa.String(200), nullable=False, server_default=""),
    sa.Column("arm", sa.String(200), nullable=False, server_default=""),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("replication", sa.Integer, nullable=False),
    sa.Column("scenario", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("manifest", JSONType, nullable=False),
    sa.Column("wall_seconds", sa.Float, nullable=False),
    sa.Column("sim_time", sa.Float, nullable=False),
    sa.Column("n_actions", sa.BigInteger, nullable=False),
    sa.Column("action_log_sha256", sa.String(64), nullable=True),
    sa.Column("state_sha256", sa.String(64), nullable=True),
    sa.Column("events", JSONType, nullable=False),
    sa.Column("counters", JSONType, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("sweep_id", "cell", "arm", "seed", name="uq_runs_result_key"),
)

# actions and series are bulk-loaded: no foreign key (a per-row trigger on PostgreSQL);
# the store writes and deletes them together with their run (migration 0004).
actions = sa.Table(
    "actions",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("mechanism", sa.String(100), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(100), nullable=True),
    sa.Column("effects", sa.Text, nullable=False),
    sqlite_with_rowid=False,  # clustered on (run_id, seq): one b-tree per row, not two (0005)
)

measures = sa.Table(
    "measures",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("scope", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("area", sa.String(16), nullable=False),
    sa.Column("unit", sa.String(32), nullable=False),
    sa.Column("higher_is_better", sa.Boolean, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    # The measure's range (0007); NULL is unbounded on that side, both NULL on rows stored
    # before 0007: the unit's range then (``stored_bounds``).
    sa.Column("low", sa.Float, nullable=True),
    sa.Column("high", sa.Float, nullable=True),
)

summaries = sa.Table(
    "summaries",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("scope", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("mean", sa.Float, nullable=False),
    sa.Column("min", sa.Float, nullable=False),
    sa.Column("p50", sa.Float, nullable=False),
    sa.Column("p90", sa.Float, nullable=False),
    sa.Column("p99", sa.Float, nullable=False),
    sa.Column("max", sa.Float, nullable=False),
)

series = sa.Table(
    "series",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("scope", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("time", sa.Float, primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
)

# -- the live pilot's trial log (revision 0003) -----------------------------------------------

trials = sa.Table(
    "trials",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("scenario", JSONType, nullable=False),  # {"scenario": resolved data, "live": live spec}
    sa.Column("scenario_sha256", sa.String(64), nullable=False),
    sa.Column("epoch", sa.Float, nullable=False),  # wall-clock unix seconds of sim time 0
    sa.Column("time_factor", sa.Float, nullable=False),  # sim seconds per wall second
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("public_key", sa.String(64), nullable=False),  # Ed25519 checkpoint key, raw hex
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # 1: orjson canonical JSON; 2: RFC 8785 with checkpoints linked into the chain (0008)
    sa.Column("chain_format", sa.Integer, nullable=False, server_default="1"),
)

trial_log = sa.Table(
    "trial_log",
    metadata,
    sa.Column("trial_id", sa.String(64), sa.ForeignKey("trials.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("mechanism", sa.String(100), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # canonical JSON
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(100), nullable=True),
    sa.Column("effects", sa.Text, nullable=False),  # canonical JSON
    sa.Column("origin", sa.String(8), nullable=False),  # "http" (a client) or "sim" (a population)
    sa.Column("idempotency_key", sa.String(600), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    sa.Column("response", sa.Text, nullable=True),  # canonical JSON of the outcome the client got
    sa.Column("clock", sa.Float, nullable=True),  # set on a commit's last entry: sim time it ran to
    sa.Column("state_hash", sa.String(64), nullable=True),  # set with clock: state after the commit
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("trial_id", "idempotency_key", name="uq_trial_log_idempotency"),
)

trial_checkpoints = sa.Table(
    "trial_checkpoints",
    metadata,
    sa.Column("trial_id", sa.String(64), sa.ForeignKey("trials.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("time", sa.Float, nullable=False),  # wall-clock unix seconds
    sa.Column("signature", sa.String(128), nullable=False),  # Ed25519, hex
)

registrations = sa.Table(  # locked analysis plans: a criteria file's text and hash, before the data
    "registrations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("source", sa.String(500), nullable=False, server_default=""),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
