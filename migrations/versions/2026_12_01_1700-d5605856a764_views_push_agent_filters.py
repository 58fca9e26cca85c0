"""views push agent filters down: grouped views join agents inside, episode_summary one pass

View definitions change, and one index is added (no table, column or row changes); every view
gives the same rows as before (tests/store/test_view_plans_migration.py compares them on both
backends).

- ``action_stats_by_hour`` and ``action_stats_by_spread`` group the decisions of agents that
  exist (an inner join of ``agents``) and, in a second ``UNION ALL`` arm, the decisions whose
  agent was deleted (``agent_id`` NULL, ``agent_name`` NULL: what the LEFT JOIN gave them).
  Before, a filter on ``agent_name`` could not pass the LEFT JOIN under the GROUP BY on SQLite,
  which then scanned every decision (1M decisions: a full scan instead of an index search);
  now both ``WHERE agent_id = ...`` and ``WHERE agent_name = ...`` reach the
  ``decisions(agent_id, decided_at)`` index on both backends.
- ``episode_summary`` on PostgreSQL reads an episode's decisions once (a LATERAL aggregate)
  instead of in five correlated subqueries: a fifth of the index scans, and a plan cheap enough
  that the server's JIT compiler no longer optimizes and inlines it (1M decisions, one agent's
  2000 episodes: 546 ms -> 98 ms with jit on, 226 -> 111 ms with jit off). SQLite, which has no
  LATERAL, keeps the five subqueries (each an index search).
- ``ix_episodes_agent_name``: ``episode_summary`` filtered by ``agent_name`` (a column of
  ``episodes`` itself) searches it instead of scanning every episode.
- ``decision_outcomes`` is unchanged.

Downgrade restores revision b5b71e82dddf's definitions word for word. The SQL is written out
here, not imported: a released migration must not change with the code.

Revision ID: d5605856a764
Revises: b5b71e82dddf
Create Date: 2026-12-01 17:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "d5605856a764"
down_revision: str | None = "b5b71e82dddf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ---- revision b5b71e82dddf's views (restored by the downgrade), word for word -----------------

_ACTION_STATS = """COUNT(*) AS decisions,
       AVG(d.reward_total) AS mean_reward,
       AVG(CASE WHEN d.explored THEN 1.0 ELSE 0.0 END) AS explored_share,
       AVG(CASE WHEN d.deviated THEN 1.0 WHEN NOT d.deviated THEN 0.0 END) AS deviated_share,
       AVG(d.action_probability) AS mean_action_probability,
       AVG(d.slippage_bps) AS mean_slippage_bps,
       SUM(d.child_quantity) AS child_quantity,
       SUM(d.child_filled_quantity) AS child_filled_quantity,
       SUM(d.filled_quantity) AS filled_quantity"""
_SPREAD_TICKS = """CASE WHEN d.tick_size <= 0 THEN NULL
            WHEN d.bid_ask_spread / d.tick_size < 1.5 THEN 1
            WHEN d.bid_ask_spread / d.tick_size < 2.5 THEN 2
            WHEN d.bid_ask_spread / d.tick_size < 4.5 THEN 3
            ELSE 5 END AS spread_ticks"""
_EPISODE_COLUMNS = """e.episode_id, e.agent_id, e.agent_name, e.executor, e.mode, e.market, e.side,
       e.quantity, e.arrival_mid, e.seed, e.config_hash, e.snapshot_id, e.run_id,
       e.reward_mode, e.urgency, e.started_at, e.ended_at, e.horizon_steps, e.completed_step,
       e.forced_completion,
       e.implementation_shortfall_bps, e.completion_cost_bps,
       e.filled_by_policy, e.filled_by_policy / e.quantity AS policy_fill_share,
       e.completion_quantity, e.avg_price, e.child_orders, e.total_reward,"""
PREVIOUS_VIEWS: dict[str, str] = {
    "action_stats_by_hour": f"""
SELECT d.agent_id, a.name AS agent_name, d.hour_of_day, d.action,
       {_ACTION_STATS}
FROM decisions d
LEFT JOIN agents a ON a.id = d.agent_id
GROUP BY d.agent_id, a.name, d.hour_of_day, d.action
""",
    "action_stats_by_spread": f"""
SELECT d.agent_id, a.name AS agent_name,
       {_SPREAD_TICKS},
       d.action,
       {_ACTION_STATS}
FROM decisions d
LEFT JOIN agents a ON a.id = d.agent_id
GROUP BY d.agent_id, a.name, 3, d.action
""",
    "episode_summary": f"""
SELECT {_EPISODE_COLUMNS}
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

# ---- this revision's views ----------------------------------------------------------------------

# decisions of an existing agent (inner join: a filter on agent_name can start from agents),
# then those whose agent was deleted (agent_id NULL: the LEFT JOIN gave them agent_name NULL)
_GROUPED = """
SELECT d.agent_id, a.name AS agent_name, {keys},
       {stats}
FROM decisions d
JOIN agents a ON a.id = d.agent_id
GROUP BY d.agent_id, a.name, {group}
UNION ALL
SELECT d.agent_id, NULL AS agent_name, {keys},
       {stats}
FROM decisions d
WHERE d.agent_id IS NULL
GROUP BY d.agent_id, {group}
"""
GROUPED_VIEWS: dict[str, str] = {
    "action_stats_by_hour": _GROUPED.format(
        keys="d.hour_of_day, d.action", stats=_ACTION_STATS, group="d.hour_of_day, d.action"
    ),
    "action_stats_by_spread": _GROUPED.format(
        keys=f"{_SPREAD_TICKS},\n       d.action", stats=_ACTION_STATS, group="3, d.action"
    ),
}
# PostgreSQL: one aggregate over the episode's decisions (an aggregate always yields one row)
EPISODE_SUMMARY_POSTGRESQL = f"""
SELECT {_EPISODE_COLUMNS}
       s.decisions, s.explored_decisions, s.deviated_decisions, s.mean_action_probability,
       s.decision_reward
FROM episodes e
CROSS JOIN LATERAL (
    SELECT COUNT(*) AS decisions,
           COALESCE(SUM(CASE WHEN d.explored THEN 1 ELSE 0 END), 0) AS explored_decisions,
           COALESCE(SUM(CASE WHEN d.deviated THEN 1 ELSE 0 END), 0) AS deviated_decisions,
           AVG(d.action_probability) AS mean_action_probability,
           SUM(d.reward_total) AS decision_reward
    FROM decisions d
    WHERE d.episode_id = e.episode_id
) s
"""


def views(dialect: str) -> dict[str, str]:
    """This revision's definitions of the views it changes, for ``dialect``."""
    episode_summary = (
        EPISODE_SUMMARY_POSTGRESQL if dialect == "postgresql" else PREVIOUS_VIEWS["episode_summary"]
    )
    return {**GROUPED_VIEWS, "episode_summary": episode_summary}


def _replace(definitions: dict[str, str]) -> None:
    for name in definitions:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for name, sql in definitions.items():
        op.execute(f"CREATE VIEW {name} AS {sql}")


def upgrade() -> None:
    op.create_index(op.f("ix_episodes_agent_name"), "episodes", ["agent_name"], unique=False)
    _replace(views(op.get_bind().dialect.name))


def downgrade() -> None:
    _replace(PREVIOUS_VIEWS)
    op.drop_index(op.f("ix_episodes_agent_name"), table_name="episodes")
