"""Actors and one learner: throughput against the number of actors, learner headroom, and
learning quality against single-process training after the same number of episodes.

    .venv/bin/python scripts/bench/bench_workers.py [--episodes 600] [--actors 1 2] [--seeds 200]

For each actor count: simulator steps/s of all actors together beside single-process training
measured in the same run (the baseline), the learner's updates/s while busy against one
actor's production rate (transitions/s), so the number of actors one learner keeps up with;
then the paired difference of IS between the workers agent and the single-process agent on
the same held-out seeds (greedy), with its 95% CI: "equal within noise" means the CI holds 0.
Target (issue 14): >= 1.8x the single-process step rate with 2 actors; learner never the
bottleneck below 8 actors.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import tempfile

import numpy as np

from rlexec.config import Config, load_config
from rlexec.training.evaluate import evaluate_agent
from rlexec.training.train import train
from rlexec.training.workers import train_workers


def configured(url: str) -> Config:
    env = {
        "RLEXEC_DATABASE__URL": url,
        "RLEXEC_PERSISTENCE__SAVE_INTERVAL_SECS": "1.0",
        "RLEXEC_PERSISTENCE__SEED_BLOCK": "1000",
    }
    return load_config(env={**os.environ, **env})


async def main(episodes: int, actor_counts: list[int], seeds: int) -> None:
    folder = tempfile.mkdtemp(prefix="bench_workers_")
    config = configured(f"sqlite+aiosqlite:///{folder}/w.db")
    single = await train(config, "single", episodes=episodes, progress=False,
                         handle_signals=False)  # fmt: skip
    base_rate = single.steps_per_second
    print(f"baseline single process: {single.episodes} episodes, {base_rate:,.0f} steps/s")
    interval = config.rl_execution.executor.decision_interval_steps
    reference = await evaluate_agent(config, "single", seeds=seeds, store=False)
    for n in actor_counts:
        result = await train_workers(config, f"workers-{n}", n, episodes=episodes,
                                     handle_signals=False)  # fmt: skip
        per_actor = result.steps_per_second / n / interval  # transitions/s of one actor
        learner = result.learner_updates_per_second
        print(
            f"{n} actor(s): {result.episodes} episodes, {result.steps_per_second:,.0f} steps/s "
            f"({result.steps_per_second / base_rate:.2f}x single), learner applied "
            f"{result.transitions_applied:,} at {learner:,.0f} updates/s while busy; one actor "
            f"makes {per_actor:,.0f} transitions/s -> the learner keeps up with "
            f"{learner / per_actor if per_actor else math.inf:.0f} actors"
        )
        other = await evaluate_agent(config, f"workers-{n}", seeds=seeds, store=False)
        diff = np.array([a.is_bps - b.is_bps for a, b in zip(other.agent, reference.agent,
                                                              strict=True)])  # fmt: skip
        half = 1.96 * diff.std(ddof=1) / math.sqrt(len(diff))
        print(
            f"  paired IS (workers - single) on {len(diff)} held-out seeds: "
            f"{diff.mean():+.3f} bps, 95% CI [{diff.mean() - half:+.3f}, {diff.mean() + half:+.3f}]"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.episodes, args.actors, args.seeds))
