"""Greedy evaluation and paired comparisons on held-out seeds.

- ``evaluate_policy``: the agent, greedy (evaluation mode: epsilon 0, never learns), against
  its own base executor (the configured TWAP/VWAP and style) on seeds ``evaluation.first_seed``
  onwards; returns the agent's ``PolicyMetrics`` with ``estimated_improvement`` = mean paired
  ``IS(base) - IS(RL)`` in bps (positive: the agent is cheaper). The episodes (both
  executors), the RL decisions and a policy-metrics row with the estimate are stored.
- ``run_comparison``: one or more trained agents (greedy) against TWAP aggressive (crossing,
  named ``twap``), TWAP passive, VWAP (U-shaped profile) aggressive and passive,
  submit-and-leave, participation (``pov``: 10% of the observed volume, posted, crossing when
  behind) and the imbalance rule (``imbalance``: passive TWAP that crosses when behind and the
  touch imbalance predicts an adverse move), and on the
  ``almgren_chriss`` market also the AC optimal schedule (risk aversion ``risk_aversion``, 0 =
  risk neutral) with its closed-form expected cost E* and standard deviation. Every executor
  runs the same seeds (common random numbers; with ``side = "random"`` the side is drawn from
  the seed too).
  The paired differences of the table are taken against the agents' base (the configured
  TWAP/VWAP and style, e.g. ``twap_passive``: what the agents wrap and would run without
  learning); ``rlexec.report.verdict`` adds the best baseline of the market.
  Episodes are stored with mode ``evaluation`` and their executor names (RL agents as
  ``rl:<agent>``), and ``ComparisonRun.save`` writes every per-episode result to JSON so that
  ``rlexec report`` can draw without re-running.
- An agent trained on another market than the configured one is refused before any episode
  runs (``force``: evaluated anyway, with a warning); so is one whose state config differs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rlexec.agent import (
    base_executor,
    base_executor_name,
    check_binding,
    config_hash,
    nothing_promoted,
)
from rlexec.config import AgentMode, Config
from rlexec.errors import InvalidInputError, ModelFileError
from rlexec.execution.ac_schedule import AlmgrenChrissSchedule
from rlexec.execution.imbalance import ImbalanceRule
from rlexec.execution.metrics import EpisodeResult, ExecutorSummary, render_table, summarize
from rlexec.execution.participation import Participation
from rlexec.execution.rl_executor import EpisodeMeta
from rlexec.execution.runner import run_episode
from rlexec.execution.submit_and_leave import SubmitAndLeave
from rlexec.execution.twap import TWAP
from rlexec.execution.types import ExecutionAlgorithm, ParentOrder
from rlexec.execution.vwap import VWAP
from rlexec.market.almgren_chriss import optimal_expected_cost, optimal_variance
from rlexec.market.base import Market
from rlexec.market.book import Side
from rlexec.names import CURRENT_POLICY, PROMOTED_POLICY, PolicyChoice, check_agent_name
from rlexec.progress import Progress
from rlexec.records import EpisodeRecord, new_run_id, utc_now
from rlexec.rl.metrics import PolicyMetrics
from rlexec.store.engine import engine_for
from rlexec.store.migrate import require_schema
from rlexec.store.promotions import latest_promoted_snapshot_of
from rlexec.training.markets import ac_params, build_market, describe_parents, parent_for_seed
from rlexec.training.session import AgentSession, open_session, read_agent, write_records
from rlexec.training.train import policy_metrics_record


def policy_note(policy: PolicyChoice, snapshot_ids: Mapping[str, int | None]) -> str:
    """What the agents were scored on, in one line (after the figures): ``snapshot_ids`` by
    agent name (None: a frozen copy of the current table, not stored)."""
    named = ", ".join(f"{name} {sid}" for name, sid in snapshot_ids.items() if sid is not None)
    snapshots = f" (snapshot {named})" if named else ""
    if policy == CURRENT_POLICY:
        return (
            f"(scored on the current table{snapshots}, the latest trained; in production an "
            "agent acts on its latest promoted snapshot, or runs its base: --policy promoted "
            "scores that)"
        )
    if policy == PROMOTED_POLICY:
        return f"(scored on the latest promoted snapshot{snapshots}: what production runs)"
    return f"(scored on snapshot {policy})"


REFERENCE = "twap"  # the paired reference of comparisons saved before the base was recorded
BASELINE_AGENT_NAME = "baselines"
RESULTS_FILE = "comparison.json"
FORMAT_VERSION = 1


def rl_executor_name(agent_name: str) -> str:
    return f"rl:{agent_name}"[:64]


# What a desk calls each executor of ``baseline_factories`` (the stored names are terse).
EXECUTOR_LABELS: dict[str, str] = {
    "twap": "crossing TWAP",
    "twap_passive": "passive TWAP",
    "vwap": "crossing VWAP",
    "vwap_passive": "passive VWAP",
    "submit_and_leave": "submit-and-leave",
    "pov": "participation (POV)",
    "imbalance": "the imbalance rule",
    "almgren_chriss_optimal": "the Almgren-Chriss optimum",
}


def executor_label(name: str) -> str:
    """The plain name of a stored executor name (``rl:<agent>`` -> ``agent '<agent>'``)."""
    if name.startswith("rl:"):
        return f"agent {name[3:]!r}"
    return EXECUTOR_LABELS.get(name, name)


def baseline_factories(
    config: Config, *, risk_aversion: float = 0.0
) -> dict[str, Callable[[], ExecutionAlgorithm]]:
    """The comparison's baselines for the configured market, reference (``twap``) first."""
    slices = config.rl_execution.executor.slices
    factories: dict[str, Callable[[], ExecutionAlgorithm]] = {
        "twap": lambda: TWAP(slices=slices, style="aggressive"),
        "twap_passive": lambda: TWAP(slices=slices, style="passive"),
        "vwap": lambda: VWAP(profile="u_shaped", slices=slices, style="aggressive"),
        "vwap_passive": lambda: VWAP(profile="u_shaped", slices=slices, style="passive"),
        "submit_and_leave": lambda: SubmitAndLeave(),
        "pov": lambda: Participation(grace_share=1.0 / slices),  # behind: one slice late
        "imbalance": lambda: ImbalanceRule(slices=slices),
    }
    if config.rl_execution.simulator.market == "almgren_chriss":
        params = ac_params(config.rl_execution.simulator, risk_aversion)
        factories["almgren_chriss_optimal"] = lambda: AlmgrenChrissSchedule(params)
    return factories


def evaluation_seeds(config: Config, seeds: int | None = None) -> list[int]:
    """The held-out seeds: ``evaluation.first_seed`` onwards, ``seeds`` of them (default
    ``evaluation.seeds``)."""
    ev = config.rl_execution.evaluation
    n = ev.seeds if seeds is None else seeds
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise InvalidInputError(f"seeds = {n!r}: expected an integer >= 2 (paired statistics)")
    return list(range(ev.first_seed, ev.first_seed + n))


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class ClosedForm:
    """The Almgren-Chriss optimum for the comparison's parent, in bps of the arrival value."""

    risk_aversion: float
    expected_cost_bps: float  # E*
    std_bps: float  # sqrt(V*)


@dataclass
class ComparisonRun:
    """Every per-episode result of a comparison, its summaries and where it came from."""

    market: str
    seeds: list[int]
    results: dict[str, tuple[EpisodeResult, ...]]
    agents: dict[str, str] = field(default_factory=dict)  # executor name -> agent name
    reward_modes: dict[str, str] = field(default_factory=dict)  # agent name -> reward mode
    closed_form: ClosedForm | None = None
    created_at: str = field(default_factory=lambda: utc_now().isoformat())
    reference: str = REFERENCE  # the executor of the paired differences in ``summaries``
    base: str | None = None  # the agents' base executor (None: not recorded, older files)
    run_id: str | None = None  # the invocation's run id (episodes.run_id) when stored
    # agent name -> the snapshot scored (None: a frozen copy of the current table, not stored)
    snapshot_ids: dict[str, int | None] = field(default_factory=dict)
    parents: str | None = None  # the parents simulated (describe_parents; None: older files)

    @property
    def baseline_results(self) -> dict[str, tuple[EpisodeResult, ...]]:
        """The baselines' results (every executor but the agents): what the best baseline and
        the per-seed oracle (``rlexec.execution.yardsticks``) are taken over."""
        return {name: res for name, res in self.results.items() if name not in self.agents}

    @property
    def summaries(self) -> tuple[ExecutorSummary, ...]:
        base = self.results.get(self.reference)
        return tuple(
            summarize(name, res, None if name == self.reference else base, self.reference)
            for name, res in self.results.items()
        )

    def table(self) -> str:
        """The Markdown comparison table (the metrics module's format)."""
        from rlexec.execution.metrics import Comparison

        notes = {ex: f"agent {a!r}, reward {self.reward_modes.get(a, '?')}"
                 for ex, a in self.agents.items()}  # fmt: skip
        if self.closed_form is not None:
            cf = self.closed_form
            notes["almgren_chriss_optimal"] = (
                f"closed form E* = {cf.expected_cost_bps:.3f} bps, sd* {cf.std_bps:.3f} "
                f"(lambda {cf.risk_aversion:g})"
            )
        comparison = Comparison(self.summaries, self.results, self.reference)
        return render_table(comparison, extra=notes)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "created_at": self.created_at,
            "market": self.market,
            "reference": self.reference,
            "base": self.base,
            "run_id": self.run_id,
            "seeds": self.seeds,
            "agents": self.agents,
            "reward_modes": self.reward_modes,
            "snapshot_ids": self.snapshot_ids,
            "parents": self.parents,
            "closed_form": None if self.closed_form is None else asdict(self.closed_form),
            "results": {
                name: [_episode_json(r) for r in results] for name, results in self.results.items()
            },
        }

    def save(self, out_dir: str | Path) -> Path:
        """Write ``<out_dir>/comparison.json``; returns its path."""
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / RESULTS_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ComparisonRun:
        """Read a saved comparison (a folder holding comparison.json, or the file)."""
        file = Path(path)
        if file.is_dir() or file.suffix != ".json":
            file = file / RESULTS_FILE
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelFileError(
                f"comparison results {file} not found: run 'rlexec compare --out "
                f"{file.parent}' first"
            ) from None
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"comparison results {file} cannot be read: {exc}") from None
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"comparison results {file}: format_version = "
                f"{data.get('format_version') if isinstance(data, dict) else None!r}, "
                f"expected {FORMAT_VERSION}"
            )
        try:
            cf = data.get("closed_form")
            return cls(
                market=str(data["market"]),
                seeds=[int(s) for s in data["seeds"]],
                results={
                    name: tuple(_episode_from_json(name, r) for r in rows)
                    for name, rows in data["results"].items()
                },
                agents={str(k): str(v) for k, v in data.get("agents", {}).items()},
                reward_modes={str(k): str(v) for k, v in data.get("reward_modes", {}).items()},
                parents=None if data.get("parents") is None else str(data["parents"]),
                snapshot_ids={
                    str(k): None if v is None else int(v)
                    for k, v in data.get("snapshot_ids", {}).items()
                },
                closed_form=None if cf is None else ClosedForm(**cf),
                created_at=str(data.get("created_at", "")),
                reference=str(data.get("reference", REFERENCE)),
                base=None if data.get("base") is None else str(data["base"]),
                run_id=None if data.get("run_id") is None else str(data["run_id"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"comparison results {file}: malformed ({exc!r})") from None


def _episode_json(r: EpisodeResult) -> dict[str, Any]:
    return {
        "seed": r.seed,
        "side": str(r.side),
        "quantity": str(r.quantity),
        "arrival_mid": str(r.arrival_mid),
        "is_bps": r.is_bps,
        "filled_quantity": str(r.filled_quantity),
        "fill_rate": r.fill_rate,
        "placed_fill_rate": r.placed_fill_rate,
        "child_orders": r.child_orders,
        "avg_fill_price": str(r.avg_fill_price),
        "completion_quantity": str(r.completion_quantity),
        "completion_cost_bps": r.completion_cost_bps,
        "steps": r.steps,
        "completed_step": r.completed_step,
    }


def _episode_from_json(executor: str, row: dict[str, Any]) -> EpisodeResult:
    return EpisodeResult(
        executor=executor,
        seed=int(row["seed"]),
        side=Side(row["side"]),
        quantity=Decimal(row["quantity"]),
        arrival_mid=Decimal(row["arrival_mid"]),
        is_bps=float(row["is_bps"]),
        filled_quantity=Decimal(row["filled_quantity"]),
        fill_rate=float(row["fill_rate"]),
        placed_fill_rate=float(row["placed_fill_rate"]),
        child_orders=int(row["child_orders"]),
        avg_fill_price=Decimal(row["avg_fill_price"]),
        completion_quantity=Decimal(row["completion_quantity"]),
        completion_cost_bps=float(row["completion_cost_bps"]),
        steps=int(row["steps"]),
        completed_step=None if row.get("completed_step") is None else int(row["completed_step"]),
    )


# ------------------------------------------------------------------------------ running


def _record(
    result: EpisodeResult,
    parent: ParentOrder,
    config: Config,
    started: datetime,
    run_id: str,
) -> EpisodeRecord:
    """The stored episode of a baseline executor."""
    return EpisodeRecord(
        episode_id=parent.parent_id,
        agent_name=BASELINE_AGENT_NAME,
        executor=result.executor,
        mode=str(AgentMode.EVALUATION),
        market=config.rl_execution.simulator.market,
        side=str(result.side),
        quantity=result.quantity,
        arrival_mid=result.arrival_mid,
        seed=result.seed,
        horizon_steps=parent.horizon_steps,
        config_hash=config_hash(config),
        snapshot_id=None,
        started_at=started,
        ended_at=utc_now(),
        filled_by_policy=result.filled_quantity - result.completion_quantity,
        avg_price=result.avg_fill_price,
        implementation_shortfall_bps=result.is_bps,
        completion_quantity=result.completion_quantity,
        completion_cost_bps=result.completion_cost_bps,
        child_orders=result.child_orders,
        total_reward=-result.is_bps,
        terminated=True,
        truncated=False,
        run_id=run_id,
        urgency=int(parent.urgency),
        completed_step=result.completed_step,
    )


async def _run_baseline(
    config: Config,
    name: str,
    executor: ExecutionAlgorithm,
    market: Market,
    seeds: Sequence[int],
    bar: Progress | None,
    run_id: str,
) -> tuple[tuple[EpisodeResult, ...], list[EpisodeRecord]]:
    simulator = config.rl_execution.simulator
    results: list[EpisodeResult] = []
    records: list[EpisodeRecord] = []
    for seed in seeds:
        parent = parent_for_seed(simulator, seed)
        started = utc_now()
        result = await run_episode(executor, market, parent, seed)
        result = _renamed(result, name)
        results.append(result)
        records.append(_record(result, parent, config, started, run_id))
        if bar is not None:
            bar.update(1)
    return tuple(results), records


async def _run_agent(
    session: AgentSession, name: str, seeds: Sequence[int], bar: Progress | None, run_id: str
) -> tuple[EpisodeResult, ...]:
    simulator = session.config.rl_execution.simulator
    executor = session.executor
    executor.name = name
    results: list[EpisodeResult] = []
    for seed in seeds:
        parent = parent_for_seed(simulator, seed)
        meta = EpisodeMeta(
            seed=seed,
            market=simulator.market,
            snapshot_id=session.snapshot_id,
            exploration_seed=seed,
            run_id=run_id,
        )
        executor.begin(parent.parent_id, meta)
        results.append(_renamed(await run_episode(executor, session.market, parent, seed), name))
        if bar is not None:
            bar.update(1)
    return tuple(results)


def _renamed(result: EpisodeResult, name: str) -> EpisodeResult:
    if result.executor == name:
        return result
    from dataclasses import replace

    return replace(result, executor=name)


async def _agent_results(
    config: Config,
    agent_name: str,
    seeds: Sequence[int],
    bar: Progress | None,
    *,
    store: bool,
    run_id: str,
    improvement_vs: tuple[EpisodeResult, ...] | None = None,
    policy: PolicyChoice = CURRENT_POLICY,
) -> tuple[tuple[EpisodeResult, ...], str, PolicyMetrics, int | None]:
    """Run the agent's ``policy`` greedily on ``seeds``; store its episodes/decisions (and, if
    ``improvement_vs`` is given, a policy-metrics row with the paired improvement)."""
    session = await open_session(
        config,
        agent_name,
        mode=AgentMode.EVALUATION,
        must_exist=True,
        market="ignore",
        snapshot=store,
        policy=policy,
    )
    try:
        name = rl_executor_name(agent_name)
        results = await _run_agent(session, name, seeds, bar, run_id)
        metrics = session.agent.policy_metrics(acting=True)  # of the table scored
        metric_rows = []
        if improvement_vs is not None:
            paired = summarize(name, results, improvement_vs, "base").vs_baseline
            assert paired is not None
            metrics.estimated_improvement = -paired.mean
            metric_rows.append(
                policy_metrics_record(
                    session, -paired.mean, source="evaluation", run_id=run_id, acting=True
                )
            )
        if store and session.sink is not None:
            await write_records(
                session.engine,
                session.agent_id,
                episodes=session.sink.episodes,
                decisions=session.sink.decisions,
                metrics=metric_rows,
            )
        return results, str(session.reward_mode), metrics, session.snapshot_id
    finally:
        await session.close()


async def _store_baselines(config: Config, records: list[EpisodeRecord]) -> None:
    database = config.rl_execution.database
    await require_schema(database.url)
    engine = engine_for(database)
    try:
        await write_records(engine, None, episodes=records)
    finally:
        await engine.dispose()


async def require_agents(
    config: Config,
    agents: Sequence[str],
    *,
    store: bool = True,
    problem: str = "refuse",
    policy: PolicyChoice = CURRENT_POLICY,
) -> None:
    """Fail early (before any episode runs) if an agent is not in the store, has no promoted
    policy when ``policy`` is ``promoted``, or cannot be
    evaluated with this config (its binding: ``rlexec.agent``; ``problem`` is
    ``check_binding``'s ``market``: ``refuse`` another simulated problem, ``warn`` (what
    ``--force`` asks) or ``ignore`` (a reader of results already computed, which checks the
    state config only)), or if the store that the episodes go to is not usable."""
    if not agents and not store:
        return
    database = config.rl_execution.database
    await require_schema(database.url)
    engine = engine_for(database)
    try:
        for name in agents:
            check_agent_name(name)
            row = await read_agent(engine, name)
            if row is None:
                raise InvalidInputError(
                    f"agent {name!r} is not in the store: train it first "
                    f"(rlexec train --agent {name})"
                )
            check_binding(name, row.config_snapshot, config, market=problem)
            if policy == PROMOTED_POLICY and (
                await latest_promoted_snapshot_of(engine, name) is None
            ):
                raise nothing_promoted(name)
    finally:
        await engine.dispose()


async def evaluate_policy(
    config: Config,
    agent_name: str = "default",
    *,
    seeds: int | None = None,
    store: bool = True,
    progress: bool = False,
    force: bool = False,
) -> PolicyMetrics:
    """The agent's policy metrics with ``estimated_improvement`` (bps over its base executor,
    positive = cheaper) from a greedy paired evaluation on held-out seeds. See the module doc."""
    evaluation = await evaluate_agent(
        config, agent_name, seeds=seeds, store=store, progress=progress, force=force
    )
    return evaluation.metrics


@dataclass(frozen=True, slots=True)
class Evaluation:
    """``evaluate_agent``'s result: the metrics and both executors' episodes."""

    metrics: PolicyMetrics
    agent: tuple[EpisodeResult, ...]
    base: tuple[EpisodeResult, ...]
    base_name: str
    summary: ExecutorSummary  # the agent's, paired against the base
    snapshot_id: int | None = None  # the snapshot scored (None: a frozen, unstored copy)


async def evaluate_agent(
    config: Config,
    agent_name: str = "default",
    *,
    seeds: int | None = None,
    store: bool = True,
    progress: bool = False,
    force: bool = False,
    policy: PolicyChoice = CURRENT_POLICY,
) -> Evaluation:
    """Like ``evaluate_policy`` but returns the episodes and the paired summary too.
    ``policy``: the table scored (``rlexec.agent.PolicyChoice``: current by default)."""
    seed_list = evaluation_seeds(config, seeds)
    await require_agents(config, [agent_name], problem="warn" if force else "refuse", policy=policy)
    base_name = base_executor_name(config)
    run_id = new_run_id()
    bar = Progress(f"evaluate {agent_name}", total=2 * len(seed_list), enabled=progress)
    try:
        base_results, base_records = await _run_baseline(
            config, base_name, base_executor(config), build_market(config.rl_execution),
            seed_list, bar, run_id,
        )  # fmt: skip
        rl_results, _, metrics, snapshot_id = await _agent_results(
            config, agent_name, seed_list, bar, store=store, run_id=run_id,
            improvement_vs=base_results, policy=policy,
        )  # fmt: skip
    finally:
        bar.close()
    if store:
        await _store_baselines(config, base_records)
    summary = summarize(rl_executor_name(agent_name), rl_results, base_results, base_name)
    return Evaluation(metrics, rl_results, base_results, base_name, summary, snapshot_id)


async def run_comparison(
    config: Config,
    agents: Sequence[str] = ("default",),
    *,
    seeds: int | None = None,
    store: bool = True,
    out_dir: str | Path | None = None,
    risk_aversion: float = 0.0,
    progress: bool = False,
    force: bool = False,
    policy: PolicyChoice = CURRENT_POLICY,
) -> ComparisonRun:
    """Every agent (greedy, its ``policy``: current or promoted; a snapshot id with one agent)
    and every baseline on the same held-out seeds. See the module doc. ``agents`` may be
    empty (baselines only). Saves ``comparison.json`` under ``out_dir``."""
    if len(set(agents)) != len(agents):
        raise InvalidInputError(f"agents = {list(agents)}: an agent is named twice")
    if isinstance(policy, int) and len(agents) != 1:
        raise InvalidInputError(
            f"policy = {policy}: a snapshot id names one agent's table; compare several agents "
            "with current or promoted"
        )
    if not (math.isfinite(risk_aversion) and risk_aversion >= 0):
        raise InvalidInputError(f"risk_aversion = {risk_aversion!r}: expected a number >= 0")
    rl = config.rl_execution
    seed_list = evaluation_seeds(config, seeds)
    await require_agents(
        config, agents, store=store, problem="warn" if force else "refuse", policy=policy
    )
    factories = baseline_factories(config, risk_aversion=risk_aversion)
    total = len(seed_list) * (len(factories) + len(agents))
    bar = Progress("compare", total=total, enabled=progress)
    run_id = new_run_id()
    results: dict[str, tuple[EpisodeResult, ...]] = {}
    records: list[EpisodeRecord] = []
    base = base_executor_name(config)
    run = ComparisonRun(
        market=rl.simulator.market,
        seeds=seed_list,
        results=results,
        reference=base,
        base=base,
        run_id=run_id if store else None,
        parents=describe_parents(rl.simulator),
    )
    try:
        for name, factory in factories.items():
            res, recs = await _run_baseline(
                config, name, factory(), build_market(rl), seed_list, bar, run_id
            )
            results[name] = res
            records.extend(recs)
        for agent_name in agents:
            res, reward_mode, _, snapshot_id = await _agent_results(
                config, agent_name, seed_list, bar, store=store, run_id=run_id, policy=policy
            )
            executor = rl_executor_name(agent_name)
            results[executor] = res
            run.agents[executor] = agent_name
            run.reward_modes[agent_name] = reward_mode
            run.snapshot_ids[agent_name] = snapshot_id
    finally:
        bar.close()
    if store:
        await _store_baselines(config, records)
    if rl.simulator.market == "almgren_chriss":
        params = ac_params(rl.simulator, risk_aversion)
        quantity = float(rl.simulator.parent_quantity)
        steps = rl.simulator.horizon_steps
        value = quantity * params.initial_price / 1e4
        run.closed_form = ClosedForm(
            risk_aversion=risk_aversion,
            expected_cost_bps=optimal_expected_cost(quantity, steps, params) / value,
            std_bps=math.sqrt(optimal_variance(quantity, steps, params)) / value,
        )
    if out_dir is not None:
        run.save(out_dir)
    return run
