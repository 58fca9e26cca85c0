"""The training loop: seeded episodes of the RL-enhanced executor on the configured market,
learning into the store through the write-behind cache.

    result = await train(config, "default", episodes=2000, minutes=3)

- Seeds: allocated through the store in blocks (``rlexec.training.seeds``): the first run of
  an agent starts at ``simulator.seed``, later runs and other processes of the agent get seeds
  nobody else got. Training seeds must stay below ``evaluation.validation_first_seed`` (the
  validation and promotion seeds, then the evaluation seeds from ``evaluation.first_seed``:
  ``EvaluationConfig.seed_band``); reaching it stops the run (with an error if no seed was left
  at the start).
- Reward: in ``shortfall`` mode with ``reward.paired_baseline`` (off by default) the base
  executor first runs the same parent on the same seed and each transition is charged its
  shortfall change minus the base's (``rlexec.execution.paired_baseline``: less price noise,
  but a bias where hidden market state is at work). Steps of that shadow run are not counted
  in ``steps``.
- Exploration and replay: the agent's training mode (epsilon decaying from the stored value)
  and its replay buffer (refilled from the store's newest experiences on resume).
- Persistence: the ``AgentStore`` writes from its own thread every ``save_interval_secs``;
  the loop yields after every episode so the table can be handed over; ``close()`` makes the
  final flush. ``role`` makes the process the agent's learner (default) or one of its actors
  (``rlexec.training.workers``). SIGTERM/SIGINT (handled here, not by the store) stop the run
  after the current episode.
- Fast runs can append rows faster than the store drains them: above a quarter of
  ``persistence.max_pending_mb``, or when the last commit is older than 1.5 save intervals
  (flushes slower than the interval: without the wait a kill would lose two flushes plus an
  interval), the loop waits for a flush (back-pressure) while the store answers, so a healthy
  store never sheds rows and a crash loses about one interval plus one flush; while it is down
  the loop goes on (the store's shedding policy bounds memory) and never fails because of it.
- The learner writes a ``PolicyMetricsRecord`` (source ``training``) every ``metrics_every``
  episodes and at the end unless the last episode's row was just written (no duplicate rows).
- Audit: one ``run_id`` per call (or the given one: ``train --workers`` hands its actors the
  run id of the invocation), on every episode and policy-metrics row it writes.
- Progress (``rlexec.progress``): on stderr, with the running mean IS (last 100 episodes) and
  epsilon, and the time left of a ``minutes`` budget.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections import deque
from dataclasses import dataclass, field

from rlexec.agent import policy_metrics_record as agent_metrics_record
from rlexec.config import AgentMode, Config, RewardMode
from rlexec.errors import InvalidInputError, StoreError
from rlexec.execution.paired_baseline import baseline_shortfall_path
from rlexec.execution.rl_executor import EpisodeMeta
from rlexec.execution.runner import run_episode
from rlexec.progress import Progress
from rlexec.records import PolicyMetricsRecord, new_run_id
from rlexec.store.write_behind import Role
from rlexec.training.markets import parent_for_seed
from rlexec.training.promotion import TrainingValidation
from rlexec.training.seeds import SeedAllocator
from rlexec.training.session import AgentSession, open_session
from rlexec.training.validation import PromotionVerdict, Validation

RUNNING_WINDOW = 100
BACKPRESSURE_WAIT_SECS = 5.0  # the longest the loop waits for a flush when rows pile up
COMMIT_LAG_INTERVALS = 1.5  # the loop waits for a flush once the last commit is this old
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
    stop_signal: int | None  # the signal that stopped the run (None: it ran to its end)
    role: str = "learner"
    dropped: dict[str, int] = field(default_factory=dict)  # rows the store had to shed
    run_id: str | None = None  # on every episode and policy-metrics row of the run
    promotion: PromotionVerdict | None = None  # the learner's verdict (None: an actor)
    validations: tuple[Validation, ...] = ()
    snapshot_ids: dict[int, int] = field(default_factory=dict)  # episodes -> validated snapshot
    validation_seconds: float = 0.0  # of ``seconds``: the validations inside the loop
    backpressure_seconds: float = 0.0  # of ``seconds``: waits for the store to catch up

    @property
    def stopped_by_signal(self) -> bool:
        return self.stop_signal is not None

    @property
    def steps_per_second(self) -> float:
        """Training's own rate: the loop's time without the validations run inside it."""
        training = self.seconds - self.validation_seconds
        return self.steps / training if training > 0 else 0.0


def policy_metrics_record(
    session: AgentSession,
    improvement: float | None = None,
    *,
    source: str = "training",
    run_id: str | None = None,
    acting: bool = False,
) -> PolicyMetricsRecord:
    """The session's agent's policy metrics now, as the row ``source`` writes in ``run_id``
    (``acting``: of the table it acts on)."""
    return agent_metrics_record(
        session.agent, source=source, improvement=improvement, run_id=run_id, acting=acting
    )


class StopSignal:
    """SIGTERM/SIGINT handling of the training application: the first signal asks the loop to
    stop after the current episode (the store then makes its final flush in ``close()``)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._installed: list[signal.Signals] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
            self._installed.append(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        self.received = sig

    def remove(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed.clear()

    @property
    def requested(self) -> bool:
        return self.received is not None


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
    role: Role = Role.LEARNER,
    run_id: str | None = None,
) -> TrainingResult:
    """Train ``agent_name`` for ``episodes`` episodes and/or ``minutes`` minutes (whichever
    ends first; at least one of them is required). See the module doc."""
    _check_budget(episodes, minutes)
    if metrics_every < 1:
        raise InvalidInputError(f"metrics_every = {metrics_every}: expected >= 1")
    stop = StopSignal()
    if handle_signals:
        stop.install()
    try:
        session = await open_session(
            config, agent_name, mode=AgentMode.TRAINING, reward_mode=reward_mode, role=role
        )
        try:
            result = await _loop(
                session, stop, episodes, minutes, metrics_every, progress,
                run_id or new_run_id(),
            )  # fmt: skip
        finally:
            await session.close()
        return result
    finally:
        stop.remove()


async def _loop(
    session: AgentSession,
    stop: StopSignal,
    episodes: int | None,
    minutes: float | None,
    metrics_every: int,
    progress: bool,
    run_id: str,
) -> TrainingResult:
    rl = session.config.rl_execution
    simulator = rl.simulator
    paired = session.reward_mode is RewardMode.SHORTFALL and rl.reward.paired_baseline
    store = session.store
    seeds = SeedAllocator(
        store,
        block=rl.persistence.seed_block,
        first_seed=simulator.seed,
        limit=rl.evaluation.validation_first_seed,
    )
    await seeds.start()
    market, executor, agent = session.market, session.executor, session.agent
    learner = store.role is Role.LEARNER
    bar = Progress(
        f"train {session.agent_name}",
        total=episodes,
        budget_secs=None if minutes is None else minutes * 60.0,
        enabled=progress,
    )
    validation = (
        TrainingValidation.of(
            session.config,
            agent_name=session.agent_name,
            engine=session.engine,
            store=store,
            config_hash=executor.config_hash,
            run_id=run_id,
            typical_queue_depth=executor.builder.typical_queue_depth,
            on_validation=lambda v: bar.note(validation=f"{v.difference.mean:+.2f}"),
        )
        if learner
        else None
    )
    lag_limit = COMMIT_LAG_INTERVALS * rl.persistence.save_interval_secs
    stuck_at: int | None = None  # store.flushes when a back-pressure wait last ran out
    deadline = None if minutes is None else time.monotonic() + minutes * 60.0
    recent: deque[float] = deque(maxlen=RUNNING_WINDOW)
    waited = 0.0  # in back-pressure waits
    started = time.perf_counter()
    done = 0
    steps = 0
    try:
        while episodes is None or done < episodes:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if stop.requested or store.lease_lost is not None:
                break
            seed = seeds.next()
            if seed is None:
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
                snapshot_id=None,  # the live table, changed by every episode: no snapshot is it
                baseline=baseline,
                exploration_seed=seed,
                run_id=run_id,
            )
            executor.begin(parent.parent_id, meta)
            result = await run_episode(executor, market, parent, seed)
            recent.append(result.is_bps)
            steps += result.steps
            done += 1
            if learner and done % metrics_every == 0:
                store.append_policy_metrics(policy_metrics_record(session, run_id=run_id))
            if validation is not None and validation.due(done):
                await validation.validate(agent, done)
            if progress and (done % 10 == 0 or done == episodes):
                bar.note(
                    mean_is_bps=f"{sum(recent) / len(recent):.2f}",
                    epsilon=f"{agent.epsilon:.3f}",
                )
            bar.update(1)
            behind = (
                store.last_commit_at is not None and time.time() - store.last_commit_at > lag_limit
            )
            piled_up = store.pending_bytes > store.flush_above_bytes or behind
            if store.up and piled_up and store.flushes != stuck_at:
                # back-pressure, never a failure, and bounded: a store that hangs (no error
                # until database.command_timeout_secs) must not stop the learning; after one
                # wait ran out, none until the store has committed again
                wait_started = time.perf_counter()
                try:
                    async with asyncio.timeout(BACKPRESSURE_WAIT_SECS):
                        await store.flush()
                except TimeoutError:
                    stuck_at = store.flushes
                except StoreError:
                    pass
                waited += time.perf_counter() - wait_started
            await asyncio.sleep(0)  # let the store hand over the table, signals run
    finally:
        bar.close()
        await seeds.close()
    elapsed = time.perf_counter() - started
    validating = validation.seconds if validation is not None else 0.0  # of elapsed
    if store.lease_lost is not None:
        raise store.lease_lost
    if learner and done % metrics_every:  # else the last episode's row is already written
        store.append_policy_metrics(policy_metrics_record(session, run_id=run_id))
    verdict = None if validation is None else await validation.finish(agent, done)
    return TrainingResult(
        agent_name=session.agent_name,
        reward_mode=str(session.reward_mode),
        episodes=done,
        first_seed=seeds.first if seeds.first is not None else simulator.seed,
        last_seed=seeds.last,
        steps=steps,
        seconds=elapsed,
        running_mean_is_bps=sum(recent) / len(recent) if recent else math.nan,
        epsilon=float(agent.epsilon),
        q_rows_loaded=session.loaded.q_rows,
        stop_signal=None if stop.received is None else int(stop.received),
        role=str(store.role),
        dropped=store.dropped,
        run_id=run_id,
        promotion=verdict,
        validations=validation.history if validation is not None else (),
        snapshot_ids=validation.snapshot_ids if validation is not None else {},
        validation_seconds=validating,
        backpressure_seconds=waited,
    )


def _check_budget(episodes: int | None, minutes: float | None) -> None:
    if episodes is None and minutes is None:
        raise InvalidInputError("give --episodes N and/or --minutes M: how long to train")
    if episodes is not None and (isinstance(episodes, bool) or episodes < 1):
        raise InvalidInputError(f"episodes = {episodes!r}: expected an integer >= 1")
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise InvalidInputError(f"minutes = {minutes!r}: expected a number > 0")
