"""audit trail truth: decision / episode / metrics columns, portable types, append-only, views

What changes, and how existing rows are filled (NULL meanings: rlexec/store/models.py and
docs/analytics.md):

- ``decisions`` gains ``schedule_action``, ``schedule_quantity``, ``deviated``,
  ``greedy_action``, ``side``, ``arrival_mid``, ``slippage_bps``, ``child_filled_quantity`` and
  the state key's parts ``remaining_bucket`` .. ``queue_depth_bucket``. Filled where the old
  rows prove them: buckets from ``state_key``; ``side`` / ``arrival_mid`` from the episode row;
  ``slippage_bps`` from ``fill_price``, ``mid_price`` and the side; ``greedy_action`` = ``action``
  for greedy decisions, the unique argmax of the logged Q-values for explored ones;
  ``schedule_action`` (and ``deviated`` false) where the old tie rule (ties go to the schedule's
  action, else the lowest action) proves it. ``schedule_quantity`` and ``child_filled_quantity``
  stay NULL (never logged).
- ``episodes`` gains ``run_id`` (NULL), ``reward_mode`` (NULL), ``urgency`` (from the first
  decision), ``completed_step`` (``horizon_steps - 1`` when the completion was forced, else
  NULL) and ``forced_completion`` (``completion_quantity > 0``, NOT NULL).
- ``policy_metrics`` gains ``mode`` / ``source`` (``evaluation`` where an improvement was
  estimated, else NULL), ``run_id`` (NULL) and the six greedy-action counts (share x
  states_visited, NOT NULL).
- lookup table ``urgencies``; retention log ``audit_prunes``.
- indexes ``decisions(agent_id, decided_at)``, ``decisions(state_key)``, ``episodes(mode)``,
  ``episodes(seed)``, ``episodes(run_id)``.
- PostgreSQL: JSON columns become ``jsonb``.
- SQLite: money columns become DOUBLE (REAL affinity: no integer division in SQL), and every
  timestamp is rewritten from ``YYYY-MM-DD HH:MM:SS.ffffff`` to the exported ISO-8601 form
  ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``.
- append-only: ``decisions`` and ``episodes`` refuse every UPDATE, every DELETE outside a
  running ``rlexec db prune`` (a row of ``audit_prunes`` with ``finished_at`` NULL), a second
  insert of an existing key (SQLite's INSERT OR REPLACE deletes without firing delete
  triggers) and TRUNCATE (PostgreSQL); ``audit_prunes`` refuses DELETE / TRUNCATE and updates
  of a finished prune.
- the four views are redefined (same names, more columns, agent filters pushed down).

Downgrade restores revision cc4de567fc6d exactly (its views and trigger, NUMERIC / json types,
the old SQLite timestamp text) and drops what was added (the new columns' values are lost).
The SQL is written out here, not imported: a released migration must not change with the code.

Revision ID: d41c7a9e2b18
Revises: 5b7e2f41c9a3
Create Date: 2026-11-25 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d41c7a9e2b18"
down_revision: str | None = "5b7e2f41c9a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_MONEY = sa.Numeric(precision=20, scale=8)
LABELS = ("Wait", "PlaceSmall", "PlaceMedium", "PlaceLarge", "PlaceAll", "Cancel")
Q_COLUMNS = (
    "q_wait",
    "q_place_small",
    "q_place_medium",
    "q_place_large",
    "q_place_all",
    "q_cancel",
)
GREEDY_COLUMNS = tuple(f"greedy_{c[2:]}" for c in Q_COLUMNS)
# state key r<n>.t<n>.s<n>.i<n>.h<n>.u<n>.v<n>.q<n>: bucket column -> (marker, next marker)
KEY_PARTS = {
    "remaining_bucket": ("r", ".t"),
    "time_bucket": (".t", ".s"),
    "spread_bucket": (".s", ".i"),
    "imbalance_bucket": (".i", ".h"),
    "hour_bucket": (".h", ".u"),
    "volatility_bucket": (".v", ".q"),
    "queue_depth_bucket": (".q", None),
}
MONEY_COLUMNS = {
    "decisions": ("child_quantity", "child_price", "filled_quantity", "fill_price"),
    "episodes": ("quantity", "arrival_mid", "filled_by_policy", "avg_price", "completion_quantity"),
}
NULLABLE_MONEY = {"child_quantity", "child_price", "fill_price"}
TIMESTAMPS = {
    "agents": ("created_at", "updated_at"),
    "q_values": ("updated_at",),
    "experiences": ("created_at",),
    "episodes": ("started_at", "ended_at"),
    "decisions": ("decided_at",),
    "policy_metrics": ("recorded_at",),
    "configs": ("created_at",),
    "policy_snapshots": ("created_at",),
}
JSON_COLUMNS = (
    ("agents", "config_snapshot"),
    ("configs", "config"),
    ("policy_metrics", "action_distribution"),
)
# table -> (key columns, the timestamp a prune compares with ``pruned_before``)
AUDIT_TABLES = {
    "decisions": (("episode_id", "seq"), "decided_at"),
    "episodes": (("episode_id",), "ended_at"),
}
REFUSED = "are append-only (the audit trail)"
PRUNE_HINT = "remove old rows with rlexec db prune --before DATE"

# ---- the views of this revision ---------------------------------------------------------------

# the aggregates of the two action_stats views (one row per agent, bucket, action)
_ACTION_STATS = """COUNT(*) AS decisions,
       AVG(d.reward_total) AS mean_reward,
       AVG(CASE WHEN d.explored THEN 1.0 ELSE 0.0 END) AS explored_share,
       AVG(CASE WHEN d.deviated THEN 1.0 WHEN NOT d.deviated THEN 0.0 END) AS deviated_share,
       AVG(d.action_probability) AS mean_action_probability,
       AVG(d.slippage_bps) AS mean_slippage_bps,
       SUM(d.child_quantity) AS child_quantity,
       SUM(d.child_filled_quantity) AS child_filled_quantity,
       SUM(d.filled_quantity) AS filled_quantity"""
VIEWS: dict[str, str] = {
    "decision_outcomes": """
SELECT d.episode_id, d.seq, d.step, d.decided_at, d.agent_id, a.name AS agent_name,
       e.executor, e.mode, e.market, e.run_id, e.reward_mode, d.side, d.arrival_mid,
       d.state_key, d.state_index, d.remaining_bucket, d.time_bucket, d.spread_bucket,
       d.imbalance_bucket, d.hour_bucket, d.urgency, d.volatility_bucket, d.queue_depth_bucket,
       d.action, d.schedule_action, d.schedule_quantity, d.deviated, d.greedy_action,
       d.explored, d.epsilon, d.action_probability,
       d.hour_of_day, d.minute_of_hour, d.time_elapsed_pct, d.remaining_size,
       d.bid_ask_spread, d.tick_size, d.orderbook_imbalance, d.recent_volatility, d.mid_price,
       d.child_quantity, d.child_price, d.child_filled_quantity, d.filled_quantity,
       d.fill_price, d.slippage_bps,
       CASE WHEN d.child_quantity > 0 THEN d.child_filled_quantity / d.child_quantity END
           AS child_fill_ratio,
       d.fill_rate_reward, d.slippage_penalty, d.time_penalty, d.market_impact_penalty,
       d.reward_total
FROM decisions d
LEFT JOIN agents a ON a.id = d.agent_id
LEFT JOIN episodes e ON e.episode_id = d.episode_id
""",
    "action_stats_by_hour": f"""
SELECT d.agent_id, a.name AS agent_name, d.hour_of_day, d.action,
       {_ACTION_STATS}
FROM decisions d
LEFT JOIN agents a ON a.id = d.agent_id
GROUP BY d.agent_id, a.name, d.hour_of_day, d.action
""",
    "action_stats_by_spread": f"""
SELECT d.agent_id, a.name AS agent_name,
       CASE WHEN d.tick_size <= 0 THEN NULL
            WHEN d.bid_ask_spread / d.tick_size < 1.5 THEN 1
            WHEN d.bid_ask_spread / d.tick_size < 2.5 THEN 2
            WHEN d.bid_ask_spread / d.tick_size < 4.5 THEN 3
            ELSE 5 END AS spread_ticks,
       d.action,
       {_ACTION_STATS}
FROM decisions d
LEFT JOIN agents a ON a.id = d.agent_id
GROUP BY d.agent_id, a.name, 3, d.action
""",
    "episode_summary": """
SELECT e.episode_id, e.agent_id, e.agent_name, e.executor, e.mode, e.market, e.side,
       e.quantity, e.arrival_mid, e.seed, e.config_hash, e.snapshot_id, e.run_id,
       e.reward_mode, e.urgency, e.started_at, e.ended_at, e.horizon_steps, e.completed_step,
       e.forced_completion,
       e.implementation_shortfall_bps, e.completion_cost_bps,
       e.filled_by_policy, e.filled_by_policy / e.quantity AS policy_fill_share,
       e.completion_quantity, e.avg_price, e.child_orders, e.total_reward,
       (SELECT COUNT(*) FROM decisions d WHERE d.episode_id = e.episode_id) AS decisions,
       (SELECT COALESCE(SUM(CASE WHEN d.explored THEN 1 ELSE 0 END), 0) FROM decisions d
         WHERE d.episode_id = e.episode_id) AS explored_decisions,
       (SELECT COALESCE(SUM(CASE WHEN d.deviated THEN 1 ELSE 0 END), 0) FROM decisions d
         WHERE d.episode_id = e.episode_id) AS deviated_decisions,
       (SELECT AVG(d.action_probability) FROM decisions d
         WHERE d.episode_id = e.episode_id) AS mean_action_probability,
       (SELECT SUM(d.reward_total) FROM decisions d
         WHERE d.episode_id = e.episode_id) AS decision_reward
FROM episodes e
""",
}

# ---- revision cc4de567fc6d's views and trigger (restored by the downgrade) -------------------

OLD_AUDIT_COLUMNS = (
    "episode_id, seq, step, decided_at, remaining_size, time_elapsed_pct, urgency, "
    "bid_ask_spread, orderbook_imbalance, recent_volatility, queue_depth_at_price, hour_of_day, "
    "minute_of_hour, seconds_since_last_trade, recent_fill_rate, avg_slippage_last_n, tick_size, "
    "mid_price, typical_queue_depth, state_key, state_index, action, epsilon, "
    "action_probability, q_wait, q_place_small, q_place_medium, q_place_large, q_place_all, "
    "q_cancel, explored, child_quantity, child_price, filled_quantity, fill_price, "
    "fill_rate_reward, slippage_penalty, time_penalty, market_impact_penalty, reward_total"
)
OLD_MESSAGE = "decisions are append-only (the audit trail), UPDATE refused"
OLD_VIEWS: dict[str, str] = {
    "decision_outcomes": """
SELECT d.episode_id, d.seq, d.step, d.decided_at, d.agent_id,
       e.agent_name, e.executor, e.mode, e.market, e.side,
       d.state_key, d.state_index, d.action, d.explored, d.epsilon, d.action_probability,
       d.hour_of_day, d.minute_of_hour, d.time_elapsed_pct, d.remaining_size,
       d.bid_ask_spread, d.tick_size, d.orderbook_imbalance, d.recent_volatility,
       d.child_quantity, d.child_price, d.filled_quantity, d.fill_price,
       CASE WHEN d.child_quantity > 0 THEN d.filled_quantity / d.child_quantity END
           AS child_fill_ratio,
       d.fill_rate_reward, d.slippage_penalty, d.time_penalty, d.market_impact_penalty,
       d.reward_total
FROM decisions d
LEFT JOIN episodes e ON e.episode_id = d.episode_id
""",
    "action_stats_by_hour": """
SELECT agent_id, hour_of_day, action,
       COUNT(*) AS decisions,
       AVG(reward_total) AS mean_reward,
       AVG(CASE WHEN explored THEN 1.0 ELSE 0.0 END) AS explored_share,
       AVG(action_probability) AS mean_action_probability,
       SUM(child_quantity) AS child_quantity,
       SUM(filled_quantity) AS filled_quantity
FROM decisions
GROUP BY agent_id, hour_of_day, action
""",
    "action_stats_by_spread": """
SELECT agent_id, spread_ticks, action,
       COUNT(*) AS decisions,
       AVG(reward_total) AS mean_reward,
       AVG(CASE WHEN explored THEN 1.0 ELSE 0.0 END) AS explored_share,
       SUM(child_quantity) AS child_quantity,
       SUM(filled_quantity) AS filled_quantity
FROM (
    SELECT agent_id, action, explored, reward_total, child_quantity, filled_quantity,
           CASE WHEN tick_size <= 0 THEN NULL
                WHEN bid_ask_spread / tick_size < 1.5 THEN 1
                WHEN bid_ask_spread / tick_size < 2.5 THEN 2
                WHEN bid_ask_spread / tick_size < 4.5 THEN 3
                ELSE 5 END AS spread_ticks
    FROM decisions
) bucketed
GROUP BY agent_id, spread_ticks, action
""",
    "episode_summary": """
SELECT e.episode_id, e.agent_id, e.agent_name, e.executor, e.mode, e.market, e.side,
       e.quantity, e.arrival_mid, e.seed, e.config_hash, e.snapshot_id,
       e.started_at, e.ended_at,
       e.implementation_shortfall_bps, e.completion_cost_bps,
       e.filled_by_policy, e.filled_by_policy / e.quantity AS policy_fill_share,
       e.completion_quantity, e.avg_price, e.child_orders, e.total_reward,
       COUNT(d.seq) AS decisions,
       SUM(CASE WHEN d.explored THEN 1 ELSE 0 END) AS explored_decisions,
       AVG(d.action_probability) AS mean_action_probability,
       SUM(d.reward_total) AS decision_reward
FROM episodes e
LEFT JOIN decisions d ON d.episode_id = e.episode_id
GROUP BY e.episode_id
""",
}


# ---- helpers ---------------------------------------------------------------------------------


def _dialect() -> str:
    return op.get_bind().dialect.name


def _bool(value: bool) -> str:
    if _dialect() == "postgresql":
        return "TRUE" if value else "FALSE"
    return "1" if value else "0"


def _key_part(column: str) -> str:
    """SQL extracting one bucket number from ``state_key`` (instr on SQLite, strpos on PG)."""
    find = "strpos" if _dialect() == "postgresql" else "instr"
    marker, following = KEY_PARTS[column]
    start = "2" if marker == "r" else f"{find}(state_key, '{marker}') + 2"
    if following is None:
        return f"CAST(substr(state_key, {start}) AS INTEGER)"
    length = f"{find}(state_key, '{following}') - ({start})"
    return f"CAST(substr(state_key, {start}, {length}) AS INTEGER)"


def _unique_argmax() -> str:
    """The label of the strictly largest logged Q-value; NULL when the maximum is tied."""
    whens = []
    for column, label in zip(Q_COLUMNS, LABELS, strict=True):
        beats = " AND ".join(f"{column} > {other}" for other in Q_COLUMNS if other != column)
        whens.append(f"WHEN {beats} THEN '{label}'")
    return "CASE " + " ".join(whens) + " END"


def _proven_schedule_action() -> str:
    """For a greedy decision under the old rule (the schedule's action wins every tie it is in,
    else the lowest tied action): the schedule's action where the log proves it (the action
    ties with a lower action, or all six values are equal); NULL elsewhere."""
    whens = []
    all_equal = " AND ".join(f"q_wait = {c}" for c in Q_COLUMNS[1:])
    for i, (column, label) in enumerate(zip(Q_COLUMNS, LABELS, strict=True)):
        at_max = " AND ".join(f"{column} >= {other}" for other in Q_COLUMNS if other != column)
        lower_tie = " OR ".join(f"{column} = {other}" for other in Q_COLUMNS[:i]) or all_equal
        whens.append(f"WHEN action = '{label}' AND {at_max} AND ({lower_tie}) THEN '{label}'")
    return "CASE WHEN explored THEN NULL " + " ".join(whens) + " END"


def _sqlite_timestamps(forward: bool) -> None:
    for table, columns in TIMESTAMPS.items():
        for c in columns:
            if forward:
                op.execute(
                    f"UPDATE {table} SET {c} = CASE length({c}) "
                    f"WHEN 10 THEN {c} || 'T00:00:00.000000+00:00' "
                    f"WHEN 19 THEN substr({c}, 1, 10) || 'T' || substr({c}, 12) || '.000000+00:00' "
                    f"ELSE substr({c}, 1, 10) || 'T' || substr({c}, 12) || '+00:00' END "
                    f"WHERE substr({c}, 11, 1) IN (' ', '') AND length({c}) IN (10, 19, 26)"
                )
            else:
                op.execute(
                    f"UPDATE {table} SET {c} = substr({c}, 1, 10) || ' ' || substr({c}, 12, 15) "
                    f"WHERE substr({c}, 11, 1) = 'T' AND length({c}) = 32"
                )


def _drop_views(names: Iterable[str]) -> None:
    for name in reversed(list(names)):
        op.execute(f"DROP VIEW IF EXISTS {name}")


def _create_views(views: dict[str, str]) -> None:
    for name, sql in views.items():
        op.execute(f"CREATE VIEW {name} AS {sql}")


# ---- append-only triggers ----------------------------------------------------------------------


def _create_triggers() -> None:
    if _dialect() == "postgresql":
        op.execute(
            "CREATE FUNCTION rlexec_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '% {REFUSED}: % refused; {PRUNE_HINT}', TG_TABLE_NAME, TG_OP; "
            "END $$"
        )
        for table, (_, stamp) in AUDIT_TABLES.items():
            op.execute(
                f"CREATE FUNCTION rlexec_{table}_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF EXISTS (SELECT 1 FROM audit_prunes p WHERE p.finished_at IS NULL "
                f"AND OLD.{stamp} < p.pruned_before) THEN RETURN OLD; END IF; "
                f"RAISE EXCEPTION '{table} {REFUSED}: DELETE refused; {PRUNE_HINT}'; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION rlexec_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION rlexec_{table}_delete()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION rlexec_refuse_change()"
            )
        op.execute(
            "CREATE FUNCTION rlexec_audit_prunes_update() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN IF OLD.finished_at IS NULL THEN RETURN NEW; END IF; "
            "RAISE EXCEPTION 'audit_prunes is the retention log: a finished prune cannot "
            "change'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_prunes_no_update BEFORE UPDATE ON audit_prunes "
            "FOR EACH ROW EXECUTE FUNCTION rlexec_audit_prunes_update()"
        )
        op.execute(
            "CREATE FUNCTION rlexec_audit_prunes_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_prunes is the retention log: % refused', TG_OP; END $$"
        )
        for event, level in (("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            op.execute(
                f"CREATE TRIGGER audit_prunes_no_{event.lower()} BEFORE {event} ON audit_prunes "
                f"FOR EACH {level} EXECUTE FUNCTION rlexec_audit_prunes_refuse()"
            )
        return
    for table, (keys, stamp) in AUDIT_TABLES.items():
        same_key = " AND ".join(f"t.{k} = NEW.{k}" for k in keys)
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, '{table} {REFUSED}: UPDATE refused; {PRUNE_HINT}'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "WHEN NOT EXISTS (SELECT 1 FROM audit_prunes p WHERE p.finished_at IS NULL "
            f"AND OLD.{stamp} < p.pruned_before) BEGIN "
            f"SELECT RAISE(ABORT, '{table} {REFUSED}: DELETE refused; {PRUNE_HINT}'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} t WHERE {same_key}) BEGIN "
            f"SELECT RAISE(ABORT, '{table} {REFUSED}: a row with this key exists, "
            "INSERT OR REPLACE refused'); END"
        )
    op.execute(
        "CREATE TRIGGER audit_prunes_no_update BEFORE UPDATE ON audit_prunes "
        "WHEN OLD.finished_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'audit_prunes is the "
        "retention log: a finished prune cannot change'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_prunes_no_delete BEFORE DELETE ON audit_prunes BEGIN "
        "SELECT RAISE(ABORT, 'audit_prunes is the retention log: DELETE refused'); END"
    )


def _drop_triggers() -> None:
    if _dialect() == "postgresql":
        for table in AUDIT_TABLES:
            for kind in ("update", "delete", "truncate"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{kind} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS rlexec_{table}_delete()")
        for kind in ("update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_prunes_no_{kind} ON audit_prunes")
        op.execute("DROP FUNCTION IF EXISTS rlexec_audit_prunes_update()")
        op.execute("DROP FUNCTION IF EXISTS rlexec_audit_prunes_refuse()")
        op.execute("DROP FUNCTION IF EXISTS rlexec_refuse_change()")
        return
    for table in AUDIT_TABLES:
        for kind in ("update", "delete", "replace"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{kind}")
    for kind in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_prunes_no_{kind}")


def _create_old_trigger() -> None:
    if _dialect() == "postgresql":
        op.execute(
            "CREATE FUNCTION rlexec_decisions_append_only() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{OLD_MESSAGE}'; END $$"
        )
        op.execute(
            f"CREATE TRIGGER decisions_append_only BEFORE UPDATE OF {OLD_AUDIT_COLUMNS} "
            "ON decisions FOR EACH ROW EXECUTE FUNCTION rlexec_decisions_append_only()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER decisions_append_only BEFORE UPDATE OF {OLD_AUDIT_COLUMNS} "
            f"ON decisions BEGIN SELECT RAISE(ABORT, '{OLD_MESSAGE}'); END"
        )


def _drop_old_trigger() -> None:
    if _dialect() == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS decisions_append_only ON decisions")
        op.execute("DROP FUNCTION IF EXISTS rlexec_decisions_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS decisions_append_only")


# ---- upgrade -----------------------------------------------------------------------------------


def _new_columns() -> dict[str, list[sa.Column[Any]]]:
    money: sa.types.TypeEngine[Any] = OLD_MONEY if _dialect() == "postgresql" else sa.Double()
    decisions: list[sa.Column[Any]] = [
        sa.Column("schedule_action", sa.String(length=16), nullable=True),
        sa.Column("schedule_quantity", money, nullable=True),
        sa.Column("deviated", sa.Boolean(), nullable=True),
        sa.Column("greedy_action", sa.String(length=16), nullable=True),
        sa.Column("side", sa.String(length=4), nullable=True),
        sa.Column("arrival_mid", money, nullable=True),
        sa.Column("slippage_bps", sa.Double(), nullable=True),
        sa.Column("child_filled_quantity", money, nullable=True),
    ]
    decisions += [sa.Column(name, sa.SmallInteger(), nullable=True) for name in KEY_PARTS]
    return {
        "decisions": decisions,
        "episodes": [
            sa.Column("run_id", sa.String(length=36), nullable=True),
            sa.Column("reward_mode", sa.String(length=16), nullable=True),
            sa.Column("urgency", sa.SmallInteger(), nullable=True),
            sa.Column("completed_step", sa.Integer(), nullable=True),
            sa.Column("forced_completion", sa.Boolean(), nullable=True),
        ],
        "policy_metrics": [
            sa.Column("mode", sa.String(length=16), nullable=True),
            sa.Column("source", sa.String(length=16), nullable=True),
            sa.Column("run_id", sa.String(length=36), nullable=True),
            *(sa.Column(name, sa.Integer(), nullable=True) for name in GREEDY_COLUMNS),
        ],
    }


NOT_NULL_AFTER_FILL: dict[str, tuple[tuple[str, sa.types.TypeEngine[Any]], ...]] = {
    "episodes": (("forced_completion", sa.Boolean()),),
    "policy_metrics": tuple((name, sa.Integer()) for name in GREEDY_COLUMNS),
}
NEW_INDEXES = (
    ("ix_decisions_agent_id_decided_at", "decisions", ["agent_id", "decided_at"]),
    ("ix_decisions_state_key", "decisions", ["state_key"]),
    ("ix_episodes_mode", "episodes", ["mode"]),
    ("ix_episodes_seed", "episodes", ["seed"]),
    ("ix_episodes_run_id", "episodes", ["run_id"]),
)


def _fill_existing_rows() -> None:
    pg = _dialect() == "postgresql"
    key_form = "state_key LIKE 'r%.t%.s%.i%.h%.u%.v%.q%'"
    buckets = ", ".join(f"{c} = CASE WHEN {key_form} THEN {_key_part(c)} END" for c in KEY_PARTS)
    episode = "SELECT e.{} FROM episodes e WHERE e.episode_id = decisions.episode_id"
    op.execute(
        f"UPDATE decisions SET {buckets}, "
        f"greedy_action = CASE WHEN explored THEN {_unique_argmax()} ELSE action END, "
        f"schedule_action = {_proven_schedule_action()}, "
        f"side = ({episode.format('side')}), arrival_mid = ({episode.format('arrival_mid')})"
    )
    op.execute(
        f"UPDATE decisions SET deviated = CASE WHEN schedule_action IS NOT NULL THEN "
        f"{_bool(False)} END, "
        "slippage_bps = CASE WHEN fill_price IS NOT NULL AND side IS NOT NULL THEN "
        "(CASE WHEN side = 'buy' THEN 1 ELSE -1 END) * (fill_price - mid_price) / mid_price "
        "* 10000 END"
    )
    op.execute(
        "UPDATE episodes SET "
        f"forced_completion = CASE WHEN completion_quantity > 0 THEN {_bool(True)} "
        f"ELSE {_bool(False)} END, "
        "completed_step = CASE WHEN completion_quantity > 0 THEN horizon_steps - 1 END, "
        "urgency = (SELECT d.urgency FROM decisions d WHERE d.episode_id = episodes.episode_id "
        "ORDER BY d.seq LIMIT 1)"
    )

    def share(label: str) -> str:
        if pg:
            return f"(action_distribution ->> '{label}')::double precision"
        return f"json_extract(action_distribution, '$.{label}')"

    counts = ", ".join(
        f"{c} = CAST(ROUND(COALESCE({share(label)}, 0) * states_visited) AS INTEGER)"
        for c, label in zip(GREEDY_COLUMNS, LABELS, strict=True)
    )
    evaluated = "CASE WHEN estimated_improvement_bps IS NOT NULL THEN 'evaluation' END"
    op.execute(f"UPDATE policy_metrics SET mode = {evaluated}, source = {evaluated}, {counts}")


def upgrade() -> None:
    sqlite = _dialect() == "sqlite"
    _drop_views(OLD_VIEWS)
    _drop_old_trigger()
    op.create_table(
        "urgencies",
        sa.Column("urgency", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("urgency", name=op.f("pk_urgencies")),
        sa.UniqueConstraint("name", name=op.f("uq_urgencies_name")),
    )
    op.bulk_insert(
        sa.table("urgencies", sa.column("urgency", sa.SmallInteger), sa.column("name", sa.String)),
        [
            {"urgency": 0, "name": "low"},
            {"urgency": 1, "name": "normal"},
            {"urgency": 2, "name": "high"},
        ],
    )
    op.create_table(
        "audit_prunes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("pruned_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decisions_removed", sa.BigInteger(), nullable=False),
        sa.Column("episodes_removed", sa.BigInteger(), nullable=False),
        sa.Column("first_removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_prunes")),
    )
    for table, columns in _new_columns().items():
        for added in columns:
            op.add_column(table, added)
    if sqlite:
        _sqlite_timestamps(forward=True)
    else:
        for table, column in JSON_COLUMNS:
            op.alter_column(
                table,
                column,
                type_=postgresql.JSONB(),
                existing_type=sa.JSON(),
                existing_nullable=False,
                postgresql_using=f"{column}::jsonb",
            )
    _fill_existing_rows()
    for table in ("decisions", "episodes", "policy_metrics"):
        not_null = NOT_NULL_AFTER_FILL.get(table, ())
        money = MONEY_COLUMNS.get(table, ()) if sqlite else ()
        if not (not_null or money):
            continue
        with op.batch_alter_table(table, recreate="always" if sqlite else "never") as batch:
            for name, kind in not_null:
                batch.alter_column(name, existing_type=kind, nullable=False)
            for name in money:
                batch.alter_column(
                    name,
                    type_=sa.Double(),
                    existing_type=OLD_MONEY,
                    existing_nullable=name in NULLABLE_MONEY,
                )
    for name, table, indexed in NEW_INDEXES:
        op.create_index(name, table, indexed, unique=False)
    _create_views(VIEWS)
    _create_triggers()


def downgrade() -> None:
    sqlite = _dialect() == "sqlite"
    _drop_triggers()
    _drop_views(VIEWS)
    for name, table, _ in reversed(NEW_INDEXES):
        op.drop_index(name, table_name=table)
    for table, columns in _new_columns().items():
        money = MONEY_COLUMNS.get(table, ()) if sqlite else ()
        with op.batch_alter_table(table, recreate="always" if sqlite else "never") as batch:
            for added in columns:
                batch.drop_column(added.name)
            for name in money:
                batch.alter_column(
                    name,
                    type_=OLD_MONEY,
                    existing_type=sa.Double(),
                    existing_nullable=name in NULLABLE_MONEY,
                )
    if sqlite:
        _sqlite_timestamps(forward=False)
    else:
        for table, column in JSON_COLUMNS:
            op.alter_column(
                table,
                column,
                type_=sa.JSON(),
                existing_type=postgresql.JSONB(),
                existing_nullable=False,
                postgresql_using=f"{column}::json",
            )
    op.drop_table("audit_prunes")
    op.drop_table("urgencies")
    _create_views(OLD_VIEWS)
    _create_old_trigger()
