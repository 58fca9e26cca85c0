"""Training episodes without a store: the RL executor learning on seeded parents in memory.

What ``rlexec.training.train`` does minus persistence, for benchmarks and the learning test
(learning quality, not storage; ``train`` is the product's loop).
"""

from __future__ import annotations

from collections.abc import Iterable

from rlexec.config import SimulatorConfig
from rlexec.execution.paired_baseline import baseline_shortfall_path
from rlexec.execution.rl_executor import EpisodeMeta, RlEnhancedExecutor
from rlexec.execution.runner import run_episode
from rlexec.market import Market
from rlexec.training.markets import parent_for_seed


async def run_training_episodes(
    executor: RlEnhancedExecutor,
    market: Market,
    simulator: SimulatorConfig,
    seeds: Iterable[int],
    *,
    paired: bool = False,
) -> int:
    """One parent per seed (side and size as ``train`` draws them; exploration seeded by the
    episode's seed, as ``train`` does; ``paired``: the base first runs the same parent on the
    same seed for the paired reward, as ``train`` does with ``reward.paired_baseline``);
    returns the simulator steps run (the base's shadow runs not counted)."""
    steps = 0
    for seed in seeds:
        parent = parent_for_seed(simulator, seed)
        baseline = (
            await baseline_shortfall_path(executor.base, market, parent, seed) if paired else None
        )
        meta = EpisodeMeta(
            seed=seed, market=simulator.market, exploration_seed=seed, baseline=baseline
        )
        executor.begin(parent.parent_id, meta)
        steps += (await run_episode(executor, market, parent, seed)).steps
    return steps
