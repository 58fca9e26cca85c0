"""What the report reads from the store for each agent; read-only (nothing is written).

- ``TrainingCurve``: the agent's training episodes in seed order, their IS and the
  exploration rate they ran at: the mean ``epsilon`` over each episode's stored decisions
  (what the agent actually used, decays and resumes included; NaN where the episode's
  decisions are not stored, e.g. pruned).
- ``DeviationGrid``: per (remaining size bucket, time elapsed bucket) of the state, how many
  decisions the agent took, how many of them differ from what its base schedule would have
  done (``decisions.deviated``; decisions whose schedule action was not logged are left out)
  and the action it took most often instead. The decisions are those of the comparison run
  (greedy, held-out seeds) when it stored them; else every stored evaluation decision of the
  agent; else its training decisions that were not exploration. ``source`` says which.
- the agent's current Q-table and visits (``load_current_table``) for the greedy-action map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import AgentMode, StateConfig
from rlexec.errors import InvalidInputError
from rlexec.records import ACTION_LABELS
from rlexec.store.engine import session_factory
from rlexec.store.models import Agent, Decision, Episode
from rlexec.store.repositories import wrap_errors
from rlexec.store.snapshots import load_current_table

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TrainingCurve:
    is_bps: FloatArray  # per training episode, in seed order
    epsilon: FloatArray  # the same episodes' mean epsilon at their decisions (NaN: unknown)


@dataclass(frozen=True, slots=True)
class DeviationGrid:
    """Rows: remaining-size bucket, columns: time-elapsed bucket (the state key's)."""

    decisions: IntArray
    deviated: IntArray
    instead: IntArray  # the most frequent action among the deviations (-1: none)
    source: str

    @property
    def share(self) -> FloatArray:
        """Share of the cell's decisions that deviate from the base (NaN: no decision)."""
        out: FloatArray = np.full(self.decisions.shape, np.nan)
        np.divide(self.deviated, self.decisions, out=out, where=self.decisions > 0)
        return out

    @property
    def total(self) -> int:
        return int(self.decisions.sum())


@dataclass(frozen=True, slots=True)
class AgentData:
    curve: TrainingCurve
    q_values: FloatArray
    visits: IntArray
    deviations: DeviationGrid


async def _agent_id(engine: AsyncEngine, name: str) -> int:
    async with session_factory(engine)() as db, wrap_errors(db, f"reading agent {name!r}"):
        value = await db.scalar(sa.select(Agent.id).where(Agent.name == name))
    if value is None:
        raise InvalidInputError(
            f"agent {name!r} is not in the store: train it first (rlexec train --agent {name})"
        )
    return int(value)


async def training_curve(engine: AsyncEngine, agent_id: int, name: str) -> TrainingCurve:
    e, d = Episode.__table__, Decision.__table__
    epsilon = (
        sa.select(sa.func.avg(d.c.epsilon))
        .where(d.c.episode_id == e.c.episode_id)
        .scalar_subquery()
    )
    stmt = (
        sa.select(e.c.implementation_shortfall_bps, epsilon)
        .where(e.c.agent_id == agent_id, e.c.mode == str(AgentMode.TRAINING))
        .order_by(e.c.seed, e.c.started_at)
    )
    async with (
        session_factory(engine)() as db,
        wrap_errors(db, f"reading training episodes of agent {name!r}"),
    ):
        rows = (await db.execute(stmt)).all()
    return TrainingCurve(
        is_bps=np.asarray([float(r[0]) for r in rows], dtype=np.float64),
        epsilon=np.asarray([np.nan if r[1] is None else float(r[1]) for r in rows]),
    )


def _deviation_sources(
    agent_id: int, run_id: str | None
) -> list[tuple[str, sa.ColumnElement[bool]]]:
    e, d = Episode.__table__, Decision.__table__
    sources: list[tuple[str, sa.ColumnElement[bool]]] = []
    if run_id is not None:
        run = sa.select(e.c.episode_id).where(e.c.run_id == run_id, e.c.agent_id == agent_id)
        sources.append(("greedy decisions of this comparison", d.c.episode_id.in_(run)))
    evaluation = sa.select(e.c.episode_id).where(
        e.c.agent_id == agent_id, e.c.mode == str(AgentMode.EVALUATION)
    )
    sources.append(("greedy decisions of every stored evaluation", d.c.episode_id.in_(evaluation)))
    training = sa.select(e.c.episode_id).where(
        e.c.agent_id == agent_id, e.c.mode == str(AgentMode.TRAINING)
    )
    sources.append(
        (
            "training decisions that were not exploration",
            sa.and_(d.c.episode_id.in_(training), d.c.explored.is_(False)),
        )
    )
    return sources


async def deviation_grid(
    engine: AsyncEngine,
    agent_id: int,
    name: str,
    shape: tuple[int, int],
    run_id: str | None,
) -> DeviationGrid:
    """See the module doc; ``shape`` = (remaining buckets, time buckets) of the state."""
    d = Decision.__table__
    labels = {label: i for i, label in enumerate(ACTION_LABELS)}
    for source, where in _deviation_sources(agent_id, run_id):
        stmt = (
            sa.select(
                d.c.remaining_bucket, d.c.time_bucket, d.c.deviated, d.c.action, sa.func.count()
            )
            .where(
                d.c.agent_id == agent_id,
                d.c.deviated.is_not(None),
                d.c.remaining_bucket.is_not(None),
                d.c.time_bucket.is_not(None),
                where,
            )
            .group_by(d.c.remaining_bucket, d.c.time_bucket, d.c.deviated, d.c.action)
        )
        async with (
            session_factory(engine)() as db,
            wrap_errors(db, f"reading the decisions of agent {name!r}"),
        ):
            rows = [tuple(row) for row in (await db.execute(stmt)).all()]
        if rows:
            return _grid(rows, shape, labels, source)
    empty = np.zeros(shape, dtype=np.int64)
    return DeviationGrid(empty, empty.copy(), np.full(shape, -1, dtype=np.int64), "no decisions")


def _grid(
    rows: list[tuple[Any, ...]],
    shape: tuple[int, int],
    labels: dict[str, int],
    source: str,
) -> DeviationGrid:
    n_r = max(shape[0], 1 + max(int(r[0]) for r in rows))
    n_t = max(shape[1], 1 + max(int(r[1]) for r in rows))
    decisions = np.zeros((n_r, n_t), dtype=np.int64)
    by_action = np.zeros((n_r, n_t, len(ACTION_LABELS)), dtype=np.int64)
    for remaining, time, deviated, action, count in rows:
        decisions[remaining, time] += count
        if deviated and action in labels:
            by_action[remaining, time, labels[action]] += count
    deviated_counts = by_action.sum(axis=2)
    instead = np.where(deviated_counts > 0, by_action.argmax(axis=2), -1).astype(np.int64)
    return DeviationGrid(decisions, deviated_counts, instead, source)


async def read_agent_data(
    engine: AsyncEngine, state: StateConfig, name: str, run_id: str | None
) -> AgentData:
    """Everything the report draws of agent ``name``; see the module doc."""
    agent_id = await _agent_id(engine, name)
    curve = await training_curve(engine, agent_id, name)
    q_values, visits, _ = await load_current_table(engine, name, state)
    grid = await deviation_grid(
        engine, agent_id, name, (state.remaining_buckets, state.time_buckets), run_id
    )
    return AgentData(curve, q_values, visits, grid)
