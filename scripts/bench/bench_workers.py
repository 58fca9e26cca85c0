"""Actors and one learner: throughput against the number of actors, learner headroom, and
learning quality against single-process training after the same number of episodes.

    .venv/bin/python scripts/bench/bench_workers.py [--episodes 600] [--actors 1 2] [--seeds 200]

For each actor count: simulator steps/s of all actors together beside single-process training
measured in the same run (the baseline), in the training loops and end to end (process start
included); the load average at each step. The machine may be shared, so wall-clock ratios
measure the share of the cores this run got as much as the mechanism: the CPU time per step
of the actors and of the learner (``time.process_time`` per process) does not depend on the
load, and gives the learner's capacity (transitions per CPU second) against one actor's
production per CPU second (how many actors one learner core keeps up with) and a projection
of the step rate on idle cores. Then the paired difference of IS between the workers agent and
the single-process agent on the same held-out seeds (greedy), with its 95% CI: "equal within
noise" means the CI holds 0.
Target (issue 14): >= 1.8x the single-process step rate with 2 actors; learner never the
bottleneck below 8 actors.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import tempfile
import time

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
        # no validation in either run: it is the learner's CPU, not steps (a single process's
        # loop would count its time, the workers' learner would take it from the actors)
        "RLEXEC_EVALUATION__VALIDATE_EVERY": "0",
    }
    return load_config(env={**os.environ, **env})


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


async def main(episodes: int, actor_counts: list[int], seeds: int) -> None:
    folder = tempfile.mkdtemp(prefix="bench_workers_")
    config = configured(f"sqlite+aiosqlite:///{folder}/w.db")
    cores = os.cpu_count() or 1
    print(f"{cores} cores; {load()}")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    single = await train(config, "single", episodes=episodes, progress=False,
                         handle_signals=False)  # fmt: skip
    single_cpu = time.process_time() - cpu0  # with open and the final flush, this process
    single_wall = time.perf_counter() - wall0
    base_rate = single.steps_per_second
    single_cpu_step = single_cpu / single.steps
    print(
        f"single process: {single.episodes} episodes, {base_rate:,.0f} steps/s in its loop, "
        f"{single.steps / single_wall:,.0f} end to end (open and close included); "
        f"{single_cpu_step * 1e6:.1f} CPU-us per step ({single_cpu / single_wall:.0%} of a core "
        f"while it ran); {load()}"
    )
    reference = await evaluate_agent(config, "single", seeds=seeds, store=False)
    for n in actor_counts:
        result = await train_workers(config, f"workers-{n}", n, episodes=episodes,
                                     handle_signals=False)  # fmt: skip
        actors = result.actor_results
        steady = result.steps / max(a["seconds"] for a in actors)
        startup = sum(a["startup_cpu_seconds"] for a in actors)
        actor_cpu = sum(a["cpu_seconds"] for a in actors) - startup
        actor_cpu_step = actor_cpu / result.steps
        learner_cpu = result.learner_cpu_seconds
        learner_cpu_step = learner_cpu / result.steps
        # one actor's production per CPU second it works, against the learner's capacity
        produced_per_cpu = result.transitions_applied / actor_cpu if actor_cpu else 0.0
        capacity = result.learner_updates_per_cpu_second
        idle = min(n / actor_cpu_step, cores / (actor_cpu_step + learner_cpu_step))
        end_to_end = result.steps / result.seconds / (single.steps / single_wall)
        print(
            f"{n} actor(s): {result.episodes} episodes; {steady:,.0f} steps/s in the actors' "
            f"loops ({steady / base_rate:.2f}x single), {result.steps_per_second:,.0f} end to "
            f"end with process start ({end_to_end:.2f}x single end to end); {load()}"
        )
        print(
            f"  CPU: actors {actor_cpu_step * 1e6:.1f} us per step in train() (single "
            f"{single_cpu_step * 1e6:.1f}) + {startup / n:.2f} s each to start (interpreter, "
            f"imports); learner {learner_cpu:.2f} s = {learner_cpu_step * 1e6:.1f} us per step, "
            f"{learner_cpu / result.seconds:.0%} of a core"
        )
        print(
            f"  learner: {result.transitions_applied:,} transitions, {capacity:,.0f} per CPU "
            f"second ({result.learner_updates_per_second:,.0f} per wall second of its rounds); "
            f"one actor makes {produced_per_cpu:,.0f} per CPU second -> one learner core keeps "
            f"up with {capacity / produced_per_cpu if produced_per_cpu else math.inf:.0f} "
            f"actors; projected on {cores} idle cores: {idle:,.0f} steps/s "
            f"({idle / (1 / single_cpu_step):.2f}x single)"
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
