"""Learning benchmark (issue 9): does the agent, with the default config, beat its base and the
best baseline of each market, paired, on held-out seeds, over several training seeds?

    .venv/bin/python scripts/bench/bench_learning.py [--episodes 6000] [--training-seeds 5]
        [--seeds 1000] [--markets equity,prediction_market,ac_paper] [--workers 2]

For each market and training seed k (1..K): a fresh agent (``QTableAgent(seed=k)``, default
config, the market preset unchanged) trains ``--episodes`` parent orders on training seeds
``k * 10_000_000 + i`` in memory (no store: this measures learning, ``bench_training`` measures
speed with the store), then runs greedy (evaluation mode) on the evaluation seeds
(``evaluation.first_seed`` onwards), paired with every baseline of ``rlexec compare`` on the
same seeds. Printed per training seed: RL mean IS, RL - base and RL - best baseline with 95% CIs
and the verdicts; per market: the spread of RL means across training seeds and the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rlexec.agent import base_executor_name, new_executor, new_q_agent
from rlexec.config import AgentMode, Config, RewardMode, parse_config
from rlexec.errors import RlexecError
from rlexec.execution.metrics import EpisodeResult, compare, paired_difference
from rlexec.execution.types import ParentOrder
from rlexec.execution.yardsticks import best_baseline
from rlexec.market.book import Side
from rlexec.training.episodes import run_training_episodes
from rlexec.training.evaluate import baseline_factories, evaluation_seeds
from rlexec.training.markets import build_market, typical_queue_depth

MARKETS: dict[str, dict[str, Any]] = {
    "equity": {"market": "equity", "parent_quantity": 2000},
    "prediction_market": {"market": "prediction_market", "parent_quantity": 500},
    "ac_paper": {
        "market": "almgren_chriss",
        "almgren_chriss_preset": "paper",
        "parent_quantity": 1_000_000,
        "horizon_steps": 5,
    },
}
TRAINING_SEED_STRIDE = 10_000_000


OVERRIDES: dict[str, dict[str, Any]] = {}  # --set section.key=value (experiments only)


def market_config(market: str, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    sections: dict[str, Any] = {"simulator": MARKETS[market]}
    for section, values in (overrides or {}).items():
        sections[section] = {**sections.get(section, {}), **values}
    return parse_config({"rl_execution": sections})


def parse_set(items: list[str]) -> dict[str, dict[str, Any]]:
    """``section.key=value`` pairs (value parsed as TOML) into config sections."""
    import tomllib

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, _, raw = item.partition("=")
        section, _, key = name.partition(".")
        if not (section and key and raw):
            raise SystemExit(f"--set {item!r}: expected section.key=value")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word: a string (executor.base_style=aggressive)
        out.setdefault(section, {})[key] = value
    return out


@dataclass(frozen=True, slots=True)
class Trained:
    market: str
    training_seed: int
    episodes: int
    train_secs: float
    steps: int
    rl: tuple[EpisodeResult, ...]


def train_and_evaluate(
    market: str,
    training_seed: int,
    episodes: int,
    n_seeds: int,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Trained:
    return asyncio.run(_train_and_evaluate(market, training_seed, episodes, n_seeds, overrides))


async def _train_and_evaluate(
    market: str,
    training_seed: int,
    episodes: int,
    n_seeds: int,
    overrides: dict[str, dict[str, Any]] | None,
) -> Trained:
    config = market_config(market, overrides)
    rl = config.rl_execution
    sim = build_market(rl)
    agent = new_q_agent(config, mode=AgentMode.TRAINING, seed=training_seed)
    executor = new_executor(
        config,
        agent,
        sink=None,
        agent_name="bench",
        reward_mode=rl.reward.mode,
        typical_queue_depth=typical_queue_depth(sim),
    )
    started = time.perf_counter()
    first = training_seed * TRAINING_SEED_STRIDE
    paired = rl.reward.paired_baseline and rl.reward.mode is RewardMode.SHORTFALL
    steps = await run_training_episodes(
        executor, sim, rl.simulator, range(first, first + episodes), paired=paired
    )
    train_secs = time.perf_counter() - started
    agent.set_mode(AgentMode.EVALUATION)
    parent = ParentOrder(
        "bench-eval", Side.BUY, Decimal(rl.simulator.parent_quantity), rl.simulator.horizon_steps
    )
    run = await compare(
        {"rl": lambda: executor}, lambda: build_market(rl), evaluation_seeds(config, n_seeds),
        parent, baseline=None,
    )  # fmt: skip
    return Trained(market, training_seed, episodes, train_secs, steps, run.results["rl"])


async def baselines(market: str, n_seeds: int) -> dict[str, tuple[EpisodeResult, ...]]:
    config = market_config(market)
    rl = config.rl_execution
    parent = ParentOrder(
        "bench-eval", Side.BUY, Decimal(rl.simulator.parent_quantity), rl.simulator.horizon_steps
    )
    seeds = evaluation_seeds(config, n_seeds)
    results: dict[str, tuple[EpisodeResult, ...]] = {}
    for name, factory in baseline_factories(config).items():
        run = await compare({name: factory}, lambda: build_market(rl), seeds, parent, baseline=None)
        results[name] = run.results[name]
    return results


def _is(results: tuple[EpisodeResult, ...]) -> list[float]:
    return [r.is_bps for r in results]


def report(market: str, trained: list[Trained], base: dict[str, tuple[EpisodeResult, ...]]) -> None:
    config = market_config(market)
    base_name = base_executor_name(config)
    best = best_baseline(base)
    print(f"\n### {market}: {len(trained[0].rl)} paired evaluation seeds, "
          f"{trained[0].episodes} training episodes per training seed")  # fmt: skip
    print(f"- base {base_name}: {statistics.fmean(_is(base[base_name])):.3f} bps; best baseline "
          f"{best.name}: {best.mean_bps:.3f} bps")  # fmt: skip
    print("| training seed | RL mean IS | RL - base [95% CI] | RL - best [95% CI] | train s | "
          "steps/s |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    means = []
    for t in trained:
        rl = _is(t.rl)
        vs_base = paired_difference(rl, _is(base[base_name]))
        vs_best = paired_difference(rl, _is(base[best.name]))
        means.append(statistics.fmean(rl))
        print(
            f"| {t.training_seed} | {means[-1]:.3f} | {vs_base.mean:+.3f} [{vs_base.low:+.3f}, "
            f"{vs_base.high:+.3f}]{_mark(vs_base.low, vs_base.high)} | {vs_best.mean:+.3f} "
            f"[{vs_best.low:+.3f}, {vs_best.high:+.3f}]{_mark(vs_best.low, vs_best.high)} | "
            f"{t.train_secs:.0f} | {t.steps / t.train_secs:,.0f} |"
        )
    spread = max(means) - min(means)
    print(f"- spread of RL means across training seeds: {spread:.3f} bps")


def _mark(low: float, high: float) -> str:
    if high < 0:
        return " better"
    if low > 0:
        return " WORSE"
    return " (n.s.)"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--episodes", type=int, default=6000)
    parser.add_argument("--training-seeds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--markets", default="equity,prediction_market")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="config override for the learner (experiments; the baselines keep the defaults)",
    )
    args = parser.parse_args()
    markets = [m.strip() for m in args.markets.split(",") if m.strip()]
    unknown = [m for m in markets if m not in MARKETS]
    if unknown:
        parser.error(f"--markets {','.join(unknown)}: expected some of {', '.join(MARKETS)}")
    overrides = parse_set(args.set)
    try:
        market_config(markets[0] if markets else "equity", overrides)
    except RlexecError as exc:  # a bad --set: one line, before any work starts
        parser.error(f"--set: {exc}")
    if overrides:
        print(f"learner config overrides: {overrides}")
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        base_jobs = {m: pool.submit(_baselines_sync, m, args.seeds) for m in markets}
        jobs = {
            m: [
                pool.submit(train_and_evaluate, m, k, args.episodes, args.seeds, overrides)
                for k in range(1, args.training_seeds + 1)
            ]
            for m in markets
        }
        for m in markets:
            trained = []
            for job in jobs[m]:
                t = job.result()
                print(f"{m}: training seed {t.training_seed} done ({t.train_secs:.0f} s)",
                      file=sys.stderr, flush=True)  # fmt: skip
                trained.append(t)
            report(m, trained, base_jobs[m].result())
    print(f"\n({time.perf_counter() - started:.0f} s in all)")


def _baselines_sync(market: str, n_seeds: int) -> dict[str, tuple[EpisodeResult, ...]]:
    return asyncio.run(baselines(market, n_seeds))


if __name__ == "__main__":
    main()
