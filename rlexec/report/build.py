"""``write_report``: the PNG plots and summary.md of a comparison, without re-running it.

Reads the comparison's ``comparison.json`` (written by ``rlexec compare``) from the output
folder and, read-only, the agents' training episodes and decisions (learning curves,
exploration rate, deviations from the base) and Q-tables (action maps) from the store, and
writes into the same folder:

- ``learning_curve.png``, ``is_distribution.png``, ``paired_differences.png``,
  ``action_heatmap_<agent>.png`` (one per agent), ``summary.md``.

The summary leads with the verdict (``rlexec.report.verdict``): every agent against its base
and against the best baseline of the market. ``promotion`` lines, when given, are rendered in
a section of their own right after it (whether and on what validation evidence a policy was
promoted for production; the caller words them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rlexec.agent import base_executor_name
from rlexec.config import Config
from rlexec.report.data import AgentData, read_agent_data
from rlexec.report.markdown import render_summary
from rlexec.report.plots import (
    action_heatmap_figure,
    difference_panels,
    is_distribution_figure,
    learning_curve_figure,
    paired_differences_figure,
    save,
)
from rlexec.report.verdict import comparison_verdict
from rlexec.report.words import bps
from rlexec.rl.state import StateDiscretizer
from rlexec.store.engine import engine_for, redact_url
from rlexec.store.promotions import list_promotions
from rlexec.training.evaluate import (
    ComparisonRun,
    executor_label,
    require_agents,
)

SUMMARY_FILE = "summary.md"


@dataclass(frozen=True, slots=True)
class Report:
    folder: Path
    summary: Path
    plots: tuple[Path, ...]
    verdict: tuple[tuple[str, ...], ...]  # the verdict's blocks (as in the summary)


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "agent"


async def _read_agents(
    config: Config, names: Sequence[str], run_id: str | None
) -> dict[str, AgentData]:
    # results already computed: only what reading the tables needs (the state config)
    await require_agents(config, names, store=False, problem="ignore")
    database = config.rl_execution.database
    engine = engine_for(database, read_only=True)
    try:
        return {
            name: await read_agent_data(engine, config.rl_execution.state, name, run_id)
            for name in names
        }
    finally:
        await engine.dispose()


async def _promotion_lines(config: Config, names: Sequence[str]) -> list[str]:
    """One line per agent: its latest promotion verdict (what production acts on)."""
    database = config.rl_execution.database
    engine = engine_for(database, read_only=True)
    lines = []
    try:
        for name in names:
            rows = await list_promotions(engine, name, last=1)
            if not rows:
                lines.append(
                    f"{name}: never validated (no promotion stored): in production it runs its base"
                )
                continue
            r = rows[0].record
            verdict = (
                f"promoted (snapshot version {rows[0].snapshot_version})"
                if r.promoted
                else "not promoted: in production it runs its base"
            )
            lines.append(
                f"{name}: {verdict}; on {r.validation_seed_count} promotion seeds policy - "
                f"{r.base_executor} = {r.mean_difference_bps:+.2f} bps (95% CI "
                f"{r.difference_ci_low_bps:+.2f} to {r.difference_ci_high_bps:+.2f}), after "
                f"{r.episodes_trained} training episodes; {r.reason}"
            )
    finally:
        await engine.dispose()
    return lines


def _levels(run: ComparisonRun, base: str, best: str, best_mean: float) -> list[tuple[str, float]]:
    """The learning curve's horizontal lines: the base's and the best baseline's mean IS."""
    where = "bps on the held-out seeds"
    levels = []
    if base in run.results:
        mean = sum(r.is_bps for r in run.results[base]) / len(run.results[base])
        also = ", also the best baseline" if best == base else ""
        levels.append((f"{base} (the agents' base{also}): {bps(mean)} {where}", mean))
    if best != base:
        levels.append((f"{best} (best baseline): {bps(best_mean)} {where}", best_mean))
    return levels


async def write_report(
    config: Config,
    out_dir: str | Path,
    *,
    comparison: str | Path | None = None,
    agents: Sequence[str] | None = None,
    promotion: Sequence[str] = (),
) -> Report:
    """Write the report into ``out_dir`` from ``comparison`` (default
    ``<out_dir>/comparison.json``); ``agents`` defaults to the agents of the comparison;
    ``promotion`` defaults to each agent's latest stored promotion verdict."""
    folder = Path(out_dir)
    run = ComparisonRun.load(comparison if comparison is not None else folder)
    names = list(agents) if agents is not None else list(dict.fromkeys(run.agents.values()))
    base = run.base if run.base is not None else base_executor_name(config)
    verdict = comparison_verdict(run, base)
    best = verdict.best
    data = await _read_agents(config, names, run.run_id)
    if not promotion:
        promotion = await _promotion_lines(config, names)
    folder.mkdir(parents=True, exist_ok=True)
    plots: dict[str, str] = {}
    written: list[Path] = []

    levels = _levels(run, base, best.name, best.mean_bps)
    curves = {name: d.curve for name, d in data.items()}
    figure = learning_curve_figure(curves, levels=levels)
    written.append(save(figure, folder / "learning_curve.png"))
    plots["Learning curve (training episodes) and exploration rate"] = "learning_curve.png"
    written.append(save(is_distribution_figure(run.results), folder / "is_distribution.png"))
    plots["IS distribution per executor"] = "is_distribution.png"
    panels, skipped = (
        difference_panels(run.results, agents=list(run.agents), base=base, best=best.name)
        if base in run.results
        else ([], [])
    )
    if panels:
        figure = paired_differences_figure(panels, skipped)
        written.append(save(figure, folder / "paired_differences.png"))
        plots["Paired differences: the agents against their base first"] = "paired_differences.png"
    discretizer = StateDiscretizer(config.rl_execution.state)
    for name, agent in data.items():
        file = f"action_heatmap_{_file_safe(name)}.png"
        title = f"agent {name!r} (reward {run.reward_modes.get(name, '?')})"
        figure = action_heatmap_figure(
            discretizer, agent.q_values, agent.visits, agent.deviations, title=title, base=base
        )
        written.append(save(figure, folder / file))
        plots[
            f"Agent {name!r}: greedy action and where it deviates from its base, by time "
            "elapsed x remaining size"
        ] = file

    rl = config.rl_execution
    sim = rl.simulator
    context = [
        # the parents as compared (comparison.json); older files: the config's
        (
            f"parents: {run.parents}"
            if run.parents
            else f"market: `{run.market}`; parent: {sim.side} {sim.parent_quantity} over "
            f"{sim.horizon_steps} steps"
        )
        + f"; the agents' base: `{base}` ({executor_label(base)}), "
        f"decision every {rl.executor.decision_interval_steps} steps",
        f"seeds: {len(run.seeds)} paired held-out seeds from {run.seeds[0]} "
        f"(training seeds stay below {rl.evaluation.validation_first_seed}, validation and "
        f"promotion seeds below {rl.evaluation.first_seed})",
        f"comparison run: {run.created_at}; store: `{redact_url(rl.database.url)}`",
    ]
    for executor, agent_name in run.agents.items():
        n = data[agent_name].curve.is_bps.size if agent_name in data else 0
        snapshot = run.snapshot_ids.get(agent_name)
        scored = (
            f"; scored on snapshot {snapshot}"
            if snapshot is not None
            else "; scored on a copy of its current table (not stored)"
            if agent_name in run.snapshot_ids
            else ""
        )
        context.append(
            f"`{executor}`: agent `{agent_name}` trained with reward mode "
            f"`{run.reward_modes.get(agent_name, '?')}` over {n} episodes{scored}"
        )
    notes = [
        "IS = implementation shortfall against the arrival mid, in bps; positive = cost; "
        "better = cheaper. Every episode completes the parent (the remainder is sent as a "
        "market order at the horizon, its cost included in IS and in the completion cost).",
        f"diff vs {run.reference}: mean of the paired differences IS(executor) - "
        f"IS({run.reference}) on the same seeds, Student-t 95% interval; significant when it "
        "excludes 0. Policy fill rate: share of the parent filled by the executor's own child "
        "orders before the completion.",
    ]
    if run.closed_form is not None:
        cf = run.closed_form
        notes.append(
            f"Almgren-Chriss closed form (risk aversion {cf.risk_aversion:g}): "
            f"E* = {cf.expected_cost_bps:.3f} bps, sd* = {cf.std_bps:.3f} bps."
        )
    blocks = verdict.blocks()
    text = render_summary(
        title="rlexec report",
        verdict=blocks,
        context=context,
        table=run.table(),
        plots=plots,
        notes=notes,
        promotion=promotion,
    )
    summary = folder / SUMMARY_FILE
    summary.write_text(text, encoding="utf-8")
    return Report(folder=folder, summary=summary, plots=tuple(written), verdict=blocks)
