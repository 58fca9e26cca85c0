"""The training loop: seeded episodes of the RL-enhanced executor on the configured market,
learning into the store through the write-behind cache.

    result = await train(config, "default", episodes=2000, minutes=3)

- Seeds: episode ``k`` of an agent's life uses seed ``simulator.seed + k``; a resumed run
  continues after the highest training seed stored for this agent. Training seeds must stay
  below ``evaluation.first_seed`` (the held-out range); reaching it stops the run with an error.
- Reward: in ``shortfall`` mode with ``reward.paired_baseline`` (off by default) the base
  executor first runs the same parent on the same seed and each transition is charged its
  shortfall change minus the base's (``rlexec.execution.paired_baseline``: less price noise,
  but a bias where hidden market state is at work). Steps of that shadow run are not counted
  in ``steps``.
- Exploration and replay: the agent's training mode (epsilon decaying from the stored value)
  and its replay buffer (refilled from the store's newest experiences on resume).
- Persistence: the ``AgentStore`` flushes every ``save_interval_secs`` in the background (the
  loop yields to the event loop after every episode so the flush and signal handlers run);
  ``close()`` makes the final flush. SIGTERM/SIGINT stop the run after the current episode.
- Fast runs can append rows faster than ``save_interval_secs`` drains them: above a quarter of
  ``persistence.max_pending_rows`` pending rows the loop waits for a flush (back-pressure), so
  a healthy store never sheds rows.
- A ``PolicyMetricsRecord`` (source ``training``) is written every ``metrics_every`` episodes
  and at the end unless the last episode's row was just written (no duplicate rows).
- Audit: one ``run_id`` per call, on every episode and policy-metrics row it writes.
- Progress: a tqdm bar on stderr with the running mean IS (last 100 episodes) and epsilon.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections import deque
from dataclasses import dataclass

from tqdm import tqdm

from rlexec.config import AgentMode, Config, RewardMode
from rlexec.errors import InvalidInputError
from rlexec.execution.paired_baseline import baseline_shortfall_path
from rlexec.execution.rl_executor import EpisodeMeta
from rlexec.execution.runner import run_episode
from rlexec.records import PolicyMetricsRecord, new_run_id, utc_now
from rlexec.training.markets import parent_for_seed
from rlexec.training.session import AgentSession, open_session

RUNNING_WINDOW = 100
DEFAULT_METRICS_EVERY = 100


@dataclass(frozen=True, slots=True)
class TrainingResult:
    agent_name: str
    reward_mode: str
    episodes: int  # run now
    first_seed: int
    last_seed: int | None
    steps: int  # simulator steps run now
    seconds: float
    running_mean_is_bps: float  # mean IS of the last RUNNING_WINDOW episodes (nan if none)
    epsilon: float
    q_rows_loaded: int  # Q rows restored from the store at the start (0: a new agent)
    stopped_by_signal: bool

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


def policy_metrics_record(
    session: AgentSession,
    improvement: float | None = None,
    *,
    source: str = "training",
    run_id: str | None = None,
) -> PolicyMetricsRecord:
    """The agent's policy metrics now, as the row ``source`` writes in run ``run_id``."""
    metrics = session.agent.policy_metrics()
    return PolicyMetricsRecord(
        recorded_at=utc_now(),
        states_visited=metrics.num_states_visited,
        mean_q=metrics.avg_q_value,
        action_distribution=dict(metrics.action_distribution),
        epsilon=float(session.agent.epsilon),
        estimated_improvement_bps=improvement,
        updates=int(session.agent.updates),
        mode=str(session.agent.mode),
        source=source,
        run_id=run_id,
    )


async def train(
    config: Config,
    agent_name: str = "default",
    *,
    episodes: int | None = None,
    minutes: float | None = None,
    reward_mode: RewardMode | str | None = None,
    metrics_every: int = DEFAULT_METRICS_EVERY,
    progress: bool = True,
    handle_signals: bool = True,
) -> TrainingResult:
    """Train ``agent_name`` for ``episodes`` episodes and/or ``minutes`` minutes (whichever
    ends first; at least one of them is required). See the module doc."""
    _check_budget(episodes, minutes)
    if metrics_every < 1:
        raise InvalidInputError(f"metrics_every = {metrics_every}: expected >= 1")
    session = await open_session(
        config, agent_name, mode=AgentMode.TRAINING, reward_mode=reward_mode
    )
    try:
        if handle_signals:
            session.install_signal_handlers()
        return await _loop(session, episodes, minutes, metrics_every, progress)
    finally:
        await session.close()


async def _loop(
    session: AgentSession,
    episodes: int | None,
    minutes: float | None,
    metrics_every: int,
    progress: bool,
) -> TrainingResult:
    rl = session.config.rl_execution
    simulator = rl.simulator
    first_seed = session.next_training_seed
    paired = session.reward_mode is RewardMode.SHORTFALL and rl.reward.paired_baseline
    limit = rl.evaluation.first_seed
    if first_seed >= limit:
        raise InvalidInputError(
            f"agent {session.agent_name!r}: the next training seed {first_seed} reaches "
            f"evaluation.first_seed = {limit} (held-out seeds); raise evaluation.first_seed"
        )
    if episodes is not None:
        episodes = min(episodes, limit - first_seed)
    market, executor, agent = session.market, session.executor, session.agent
    store = session.store
    flush_above = max(1, rl.persistence.max_pending_rows // 4)
    deadline = None if minutes is None else time.monotonic() + minutes * 60.0
    recent: deque[float] = deque(maxlen=RUNNING_WINDOW)
    bar = tqdm(
        total=episodes,
        file=sys.stderr,
        disable=not progress,
        unit="ep",
        desc=f"train {session.agent_name}",
        dynamic_ncols=True,
    )
    run_id = new_run_id()
    started = time.perf_counter()
    done = 0
    steps = 0
    seed = first_seed
    try:
        while episodes is None or done < episodes:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if session.stop_requested:
                break
            if seed >= limit:
                break
            parent = parent_for_seed(simulator, seed)
            baseline = (
                await baseline_shortfall_path(executor.base, market, parent, seed)
                if paired
                else None
            )
            meta = EpisodeMeta(
                seed=seed,
                market=simulator.market,
                snapshot_id=session.snapshot_id,
                baseline=baseline,
                exploration_seed=seed,
                run_id=run_id,
            )
            executor.begin(parent.parent_id, meta)
            result = await run_episode(executor, market, parent, seed)
            recent.append(result.is_bps)
            steps += result.steps
            done += 1
            seed += 1
            if done % metrics_every == 0:
                session.store.append_policy_metrics(policy_metrics_record(session, run_id=run_id))
            if progress and (done % 10 == 0 or done == episodes):
                bar.set_postfix(
                    mean_is_bps=f"{sum(recent) / len(recent):.2f}",
                    epsilon=f"{agent.epsilon:.3f}",
                    refresh=False,
                )
            bar.update(1)
            if store.pending_rows > flush_above:
                await store.flush()  # back-pressure: a fast run must not outpace the store
            await asyncio.sleep(0)  # let the background flush and the signal handlers run
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    if done % metrics_every:  # else the last episode's row is already written
        session.store.append_policy_metrics(policy_metrics_record(session, run_id=run_id))
    return TrainingResult(
        agent_name=session.agent_name,
        reward_mode=str(session.reward_mode),
        episodes=done,
        first_seed=first_seed,
        last_seed=seed - 1 if done else None,
        steps=steps,
        seconds=elapsed,
        running_mean_is_bps=sum(recent) / len(recent) if recent else math.nan,
        epsilon=float(agent.epsilon),
        q_rows_loaded=session.loaded.q_rows,
        stopped_by_signal=session.stop_requested,
    )


def _check_budget(episodes: int | None, minutes: float | None) -> None:
    if episodes is None and minutes is None:
        raise InvalidInputError("give --episodes N and/or --minutes M: how long to train")
    if episodes is not None and (isinstance(episodes, bool) or episodes < 1):
        raise InvalidInputError(f"episodes = {episodes!r}: expected an integer >= 1")
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise InvalidInputError(f"minutes = {minutes!r}: expected a number > 0")
