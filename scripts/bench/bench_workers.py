"""Actors and one learner: throughput against the number of actors, learner headroom, and
learning quality against single-process training after the same number of episodes.

    .venv/bin/python scripts/bench/bench_workers.py [--episodes 600] [--actors 1 2] [--seeds 200]

For each actor count (``--repeats`` runs each): simulator steps/s of all actors together beside
single-process training measured just before and just after that run (the baseline: the mean
of the two, since a shared machine's speed drifts between runs), in the training loops and end
to end (process start included); the load average at each step. The machine may be shared, so
wall-clock ratios measure the share of the cores this run got as much as the mechanism (on a
virtual machine, two busy processes may get less than two cores' worth even when nothing else
runs); the CPU time per step of the actors and of the learner (``time.process_time`` per
process) depends less on the load, and gives the learner's capacity (transitions per CPU
second) against one actor's production per CPU second (how many actors one learner core keeps
up with) and a projection of the step rate on idle cores.

Learning quality: the mean IS (greedy, the same held-out seeds) of the workers agent against
``--reference-runs`` single-process agents trained for the same number of episodes on other
training seeds (simulator seeds 0, 10M, 20M, ...; the first one is the speed baseline). Two
training runs differ by more than a paired CI over evaluation seeds allows (that CI holds the
evaluation seeds' noise, not the training's: the single-process runs' own paired differences
are printed to show it), so "equal within noise" means: the workers' mean lies within the 95%
prediction interval of the single-process runs' means (t with K - 1 degrees of freedom).
The machine's own ceiling (``--no-ceiling`` skips it): before each workers run with N > 1
actors, one single-process training alone and then N at once (child processes, each its own
fresh SQLite file, nothing shared), their loop rates summed over the one alone: what N cores
give N busy copies of the same work in those minutes (on a virtual machine often less than N,
and it drifts). The actors' median ratio is printed beside the ceiling's median.

Target (issue 14): >= 1.8x the single-process step rate with 2 actors; learner never the
bottleneck below 8 actors.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from rlexec.config import Config, load_config
from rlexec.training.evaluate import evaluate_agent
from rlexec.training.train import train
from rlexec.training.workers import train_workers

# two-sided 95% Student t quantiles by degrees of freedom (the prediction interval below)
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306}
REFERENCE_SEED_STRIDE = 10_000_000


def configured(url: str, seed: int = 0) -> Config:
    env = {
        "RLEXEC_DATABASE__URL": url,
        "RLEXEC_SIMULATOR__SEED": str(seed),
        "RLEXEC_PERSISTENCE__SAVE_INTERVAL_SECS": "1.0",
        "RLEXEC_PERSISTENCE__SEED_BLOCK": "1000",
        # no validation in either run: it is the learner's CPU, not steps (a single process's
        # loop would count its time, the workers' learner would take it from the actors)
        "RLEXEC_EVALUATION__VALIDATE_EVERY": "0",
    }
    return load_config(env={**os.environ, **env})


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


async def held_out_is(config: Config, agent_name: str, seeds: int) -> list[float]:
    """The agent's greedy IS per held-out evaluation seed (nothing stored)."""
    result = await evaluate_agent(config, agent_name, seeds=seeds, store=False)
    return [episode.is_bps for episode in result.agent]


def independent_rate(url: str, name: str, episodes: int) -> float:
    """One single-process training in this (child) process: its loop's steps/s."""
    config = configured(url)
    result = asyncio.run(
        train(config, name, episodes=episodes, progress=False, handle_signals=False)
    )
    return result.steps_per_second


def independent_copies(folder: str, copies: int, episodes: int, tag: str) -> float:
    """Steps/s of ``copies`` independent single-process trainings run at once (child
    processes, a fresh SQLite file each), summed."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(copies, mp_context=context) as pool:
        urls = [f"sqlite+aiosqlite:///{folder}/copy-{tag}-{k}.db" for k in range(copies)]
        jobs = [
            pool.submit(independent_rate, url, f"copy-{k}", episodes) for k, url in enumerate(urls)
        ]
        return sum(job.result() for job in jobs)


def paired(a: list[float], b: list[float]) -> str:
    diff = np.asarray(a) - np.asarray(b)
    half = 1.96 * diff.std(ddof=1) / math.sqrt(len(diff))
    return f"{diff.mean():+.3f} bps, 95% CI [{diff.mean() - half:+.3f}, {diff.mean() + half:+.3f}]"


async def main(
    episodes: int,
    actor_counts: list[int],
    seeds: int,
    references: int,
    repeats: int,
    ceiling: bool,
) -> None:
    folder = tempfile.mkdtemp(prefix="bench_workers_")
    url = f"sqlite+aiosqlite:///{folder}/w.db"
    config = configured(url)
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
    reference = await held_out_is(config, "single", seeds)
    singles = [float(np.mean(reference))]
    for r in range(1, references):
        seed = r * REFERENCE_SEED_STRIDE
        other_config = configured(url, seed=seed)
        name = f"single-{r}"
        await train(other_config, name, episodes=episodes, progress=False, handle_signals=False)
        other = await held_out_is(other_config, name, seeds)
        singles.append(float(np.mean(other)))
        print(
            f"single process, training seeds from {seed:,}: mean IS {singles[-1]:+.3f} bps; "
            f"paired against the first: {paired(other, reference)}"
        )
    centre, half_band = float(np.mean(singles)), math.nan
    if references > 1:
        spread = float(np.std(singles, ddof=1))
        t = T_975[min(references - 1, max(T_975))]
        half_band = t * spread * math.sqrt(1 + 1 / references)
        print(
            f"single-process runs: mean IS {centre:+.3f} bps, SD across training seeds "
            f"{spread:.3f}; 95% prediction interval of one more run "
            f"[{centre - half_band:+.3f}, {centre + half_band:+.3f}]"
        )
    before = base_rate
    ceilings: dict[int, list[float]] = {n: [] for n in actor_counts if n > 1 and ceiling}
    runs = [(n, r) for r in range(repeats) for n in actor_counts]
    ratios: dict[int, list[float]] = {n: [] for n in actor_counts}
    for n, r in runs:
        if n in ceilings:  # the machine's own scaling, in the minutes of this run
            alone = independent_copies(folder, 1, episodes, f"{n}-{r}-alone")
            together = independent_copies(folder, n, episodes, f"{n}-{r}")
            ceilings[n].append(together / alone)
            print(
                f"machine ceiling: {n} independent single-process trainings at once (nothing "
                f"shared, fresh files): {together:,.0f} steps/s together = "
                f"{ceilings[n][-1]:.2f}x one alone ({alone:,.0f}); {load()}"
            )
        name = f"workers-{n}" if r == 0 else f"workers-{n}-{r}"
        result = await train_workers(config, name, n, episodes=episodes, handle_signals=False)
        # bracketed: the single-process loop rate just before and just after this run (a
        # shared machine's speed drifts between runs)
        after = (await train(config, f"single-after-{n}-{r}", episodes=episodes,
                             progress=False, handle_signals=False)).steps_per_second  # fmt: skip
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
        bracket = (before + after) / 2
        ratios[n].append(steady / bracket)
        print(
            f"{n} actor(s), run {r + 1}: {result.episodes} episodes; {steady:,.0f} steps/s in "
            f"the actors' loops = {steady / bracket:.2f}x single ({before:,.0f} before, "
            f"{after:,.0f} after), {result.steps_per_second:,.0f} end to end with process "
            f"start ({end_to_end:.2f}x the first single end to end); {load()}"
        )
        before = after
        loops = ", ".join(f"{a['seconds']:.1f}" for a in actors)
        waits = ", ".join(f"{a['backpressure_seconds']:.2f}" for a in actors)
        print(
            f"  actors' loops: {loops} s, of which waiting for their store to commit "
            f"(back-pressure) {waits} s (single: {single.backpressure_seconds:.2f} s)"
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
        if r > 0:
            continue  # learning quality: the first run of each actor count
        workers = await held_out_is(config, name, seeds)
        mean = float(np.mean(workers))
        line = (
            f"  learning: mean IS {mean:+.3f} bps on {len(workers)} held-out seeds; paired "
            f"against the first single-process run: {paired(workers, reference)}"
        )
        if references > 1:
            within = abs(mean - centre) <= half_band
            line += f"; {'within' if within else 'OUTSIDE'} the single-process prediction interval"
        print(line)

    for n, values in ratios.items():
        print(
            f"{n} actor(s): step rate over the bracketing single-process runs, "
            f"{len(values)} runs: "
            + ", ".join(f"{v:.2f}x" for v in values)
            + f"; median {float(np.median(values)):.2f}x"
            + (
                "; the machine's ceiling in the same minutes "
                + ", ".join(f"{c:.2f}x" for c in ceilings[n])
                + f", median {float(np.median(ceilings[n])):.2f}x (the actors reach "
                f"{float(np.median(values)) / float(np.median(ceilings[n])):.0%} of it)"
                if ceilings.get(n)
                else ""
            )
            + ("; target >= 1.8x" if n == 2 else "")
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2,
                        help="workers runs per actor count, between single runs")  # fmt: skip
    parser.add_argument("--reference-runs", type=int, default=3,
                        help="single-process runs on different training seeds (>= 1)")  # fmt: skip
    parser.add_argument("--no-ceiling", action="store_true",
                        help="skip the independent-copies ceiling measurement")  # fmt: skip
    args = parser.parse_args()
    if args.reference_runs < 1 or args.repeats < 1:
        parser.error("--reference-runs and --repeats must be >= 1")
    asyncio.run(
        main(
            args.episodes,
            args.actors,
            args.seeds,
            args.reference_runs,
            args.repeats,
            not args.no_ceiling,
        )
    )
