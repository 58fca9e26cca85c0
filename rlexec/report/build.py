"""``write_report``: the PNG plots and summary.md of a comparison, without re-running it.

Reads the comparison's ``comparison.json`` (written by ``rlexec compare``) from the output
folder, the agents' training episodes (learning curves) and Q-tables (action heat maps) from
the store, and writes into the same folder:

- ``learning_curve.png``, ``is_distribution.png``, ``paired_differences.png``,
  ``action_heatmap_<agent>.png`` (one per agent), ``summary.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from rlexec.config import AgentMode, Config
from rlexec.report.markdown import comparison_table, render_summary
from rlexec.report.plots import (
    plot_action_heatmap,
    plot_is_distribution,
    plot_learning_curve,
    plot_paired_differences,
)
from rlexec.rl.state import StateDiscretizer
from rlexec.store.engine import redact_url, session_factory
from rlexec.store.models import Episode
from rlexec.store.repositories import wrap_errors
from rlexec.training.evaluate import ComparisonRun
from rlexec.training.session import open_session

SUMMARY_FILE = "summary.md"


@dataclass(frozen=True, slots=True)
class Report:
    folder: Path
    summary: Path
    plots: tuple[Path, ...]


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "agent"


@dataclass(frozen=True, slots=True)
class _QTable:
    discretizer: StateDiscretizer
    q_values: npt.NDArray[np.float64]
    visits: npt.NDArray[np.int64]


async def _training_curve(config: Config, agent_name: str) -> tuple[list[float], _QTable]:
    """The agent's training episodes' IS in seed order, and its Q-table snapshot."""
    session = await open_session(config, agent_name, mode=AgentMode.EVALUATION, must_exist=True)
    try:
        t = Episode.__table__
        stmt = (
            sa.select(t.c.implementation_shortfall_bps)
            .where(t.c.agent_id == session.agent_id, t.c.mode == str(AgentMode.TRAINING))
            .order_by(t.c.seed, t.c.started_at)
        )
        async with (
            session_factory(session.engine)() as db,
            wrap_errors(db, f"reading training episodes of agent {agent_name!r}"),
        ):
            values = [float(v) for v in (await db.scalars(stmt)).all()]
        agent = session.agent
        return values, _QTable(agent.discretizer, agent.q_values.copy(), agent.visits.copy())
    finally:
        await session.close()


async def write_report(
    config: Config,
    out_dir: str | Path,
    *,
    comparison: str | Path | None = None,
    agents: Sequence[str] | None = None,
) -> Report:
    """Write the report into ``out_dir`` from ``comparison`` (default
    ``<out_dir>/comparison.json``); ``agents`` defaults to the agents of the comparison."""
    folder = Path(out_dir)
    run = ComparisonRun.load(comparison if comparison is not None else folder)
    names = list(agents) if agents is not None else list(dict.fromkeys(run.agents.values()))
    folder.mkdir(parents=True, exist_ok=True)
    curves: dict[str, list[float]] = {}
    plots: dict[str, str] = {}
    written: list[Path] = []
    tables: dict[str, _QTable] = {}
    for name in names:
        curve, table = await _training_curve(config, name)
        curves[name] = curve
        tables[name] = table
    written.append(plot_learning_curve(curves, folder / "learning_curve.png"))
    plots["Learning curve (training episodes)"] = "learning_curve.png"
    written.append(plot_is_distribution(run.results, folder / "is_distribution.png"))
    plots["IS distribution per executor"] = "is_distribution.png"
    if run.reference in run.results and len(run.results) > 1:
        written.append(
            plot_paired_differences(run.results, run.reference, folder / "paired_differences.png")
        )
        plots[f"Paired differences against {run.reference}"] = "paired_differences.png"
    for name, table in tables.items():
        file = f"action_heatmap_{_file_safe(name)}.png"
        title = f"agent {name!r} (reward {run.reward_modes.get(name, '?')})"
        written.append(
            plot_action_heatmap(
                table.discretizer, table.q_values, table.visits, folder / file, title=title
            )
        )
        plots[f"Greedy action of agent {name!r} by time elapsed x remaining size"] = file
    rl = config.rl_execution
    sim = rl.simulator
    context = [
        f"market: `{run.market}`; parent: {sim.side} {sim.parent_quantity} over "
        f"{sim.horizon_steps} steps; RL base: {rl.executor.base} ({rl.executor.base_style}), "
        f"decision every {rl.executor.decision_interval_steps} steps",
        f"seeds: {len(run.seeds)} paired held-out seeds from {run.seeds[0]} "
        f"(training seeds stay below {rl.evaluation.first_seed})",
        f"comparison run: {run.created_at}; store: `{redact_url(rl.database.url)}`",
    ]
    for executor, agent in run.agents.items():
        context.append(
            f"`{executor}`: agent `{agent}` trained with reward mode "
            f"`{run.reward_modes.get(agent, '?')}` over {len(curves.get(agent, []))} episodes"
        )
    notes = [
        "IS = implementation shortfall against the arrival mid, in bps; positive = cost. "
        "Every episode completes the parent (the remainder is sent as a market order at the "
        "horizon, its cost included).",
        f"diff vs {run.reference}: mean of the paired differences IS(executor) - "
        f"IS({run.reference}) on the same seeds, Student-t 95% interval; negative = cheaper.",
    ]
    if run.closed_form is not None:
        cf = run.closed_form
        notes.append(
            f"Almgren-Chriss closed form (risk aversion {cf.risk_aversion:g}): "
            f"E* = {cf.expected_cost_bps:.3f} bps, sd* = {cf.std_bps:.3f} bps."
        )
    text = render_summary(
        title="rlexec report",
        context=context,
        table=comparison_table(run.summaries, run.reference),
        plots=plots,
        notes=notes,
    )
    summary = folder / SUMMARY_FILE
    summary.write_text(text, encoding="utf-8")
    return Report(folder=folder, summary=summary, plots=tuple(written))
