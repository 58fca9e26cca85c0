"""Actors and one learner per agent (``rlexec train --workers N``), in the shape of Ape-X:

- **actors** (N processes here, any number on other machines) run training episodes with the
  latest published table (refreshed after each of their flushes) and queue their transitions
  in the store; they never write Q-values;
- **the learner** (this process) holds the agent's learner lease, applies the queued
  transitions in ``seq`` order through the real agent's update (``EpisodeAssembler``: episode
  by episode) and
  publishes the table, visits, epsilon and the applied prefix every ``save_interval_secs``.
  A standby learner (the same command on another machine) waits for the lease and takes over
  within ``learner_lease_secs`` when the learner dies; the published prefix tells it where to
  continue, so no transition is applied twice or lost.
- **validation and promotion** are the learner's, as in single-process training
  (``rlexec.training.promotion``): every ``evaluation.validate_every`` episodes it has applied
  (it holds the queue there; what the actors sent meanwhile is applied after it), and at the
  end, it measures a frozen copy of its table against the base on the validation
  seeds and snapshots it; at the end it confirms the kept table on the promotion seeds and
  stores the verdict (``rlexec promotions list``), with a policy-metrics row at each
  validation and at the end. The counts are this learner's: a standby that takes over
  validates from its own start.

SQLite allows this on one machine (WAL; writers take turns with BEGIN IMMEDIATE); an
in-memory database or a file on a network filesystem is refused (``check_shared_store``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlexec.agent import assemble
from rlexec.config import AgentMode, Config, parse_config
from rlexec.errors import InvalidInputError, StoreError
from rlexec.names import check_agent_name
from rlexec.progress import Progress
from rlexec.records import new_run_id
from rlexec.store.engine import dispose_engine, engine_for, parse_url, redact_url
from rlexec.store.migrate import require_schema
from rlexec.store.write_behind import AgentStore, LearnerBusyError, Role
from rlexec.training.markets import build_market, typical_queue_depth
from rlexec.training.promotion import TrainingValidation
from rlexec.training.train import StopSignal, TrainingResult, train
from rlexec.training.validation import PromotionVerdict, Validation

log = logging.getLogger("rlexec.training")

NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "afs", "ceph")
# the learner's poll of an empty queue: a quarter of the save interval (actors commit once per
# save interval), within these bounds; what it applies is published at the next save interval
IDLE_POLL_MIN_SECS = 0.05
IDLE_POLL_MAX_SECS = 0.25


def idle_poll_secs(save_interval_secs: float) -> float:
    return min(IDLE_POLL_MAX_SECS, max(IDLE_POLL_MIN_SECS, save_interval_secs / 4))


@dataclass(frozen=True, slots=True)
class LearnerRun:
    """What a learner did: its (closed) store, the seconds it spent applying, its
    validations and verdict (None: it lost its lease before the end)."""

    store: AgentStore
    busy_seconds: float
    promotion: PromotionVerdict | None
    validations: tuple[Validation, ...]
    epsilon: float  # the agent's at the end


@dataclass(frozen=True, slots=True)
class WorkersResult:
    agent_name: str
    workers: int
    actor_results: list[dict[str, Any]]
    episodes: int
    steps: int
    seconds: float
    transitions_applied: int  # by this process's learner
    updates: int  # the agent's update count as published at the end
    learner_updates_per_second: float  # per wall second spent in fetch-and-apply rounds
    stop_signal: int | None  # the signal that stopped the run (None: it ran to its end)
    # CPU seconds of this process (the learner: both its threads) from the actors' start to
    # the end; a machine shared with other work stretches wall time, not CPU time
    learner_cpu_seconds: float = 0.0
    promotion: PromotionVerdict | None = None  # the learner's verdict on the run
    validations: tuple[Validation, ...] = ()
    epsilon: float = math.nan  # the learner's at the end

    @property
    def running_mean_is_bps(self) -> float:
        """The actors' running mean IS (their last 100 episodes each), episode-weighted."""
        parts = [
            (r["running_mean_is_bps"], r["episodes"])
            for r in self.actor_results
            if r.get("episodes") and math.isfinite(r.get("running_mean_is_bps", math.nan))
        ]
        total = sum(n for _, n in parts)
        return sum(m * n for m, n in parts) / total if total else math.nan

    def seed_ranges(self) -> str:
        """The actors' training seeds, e.g. ``0..599, 1000..1599``."""
        ranges = sorted(
            (r["first_seed"], r["last_seed"])
            for r in self.actor_results
            if r.get("last_seed") is not None
        )
        return ", ".join(f"{a}..{b}" for a, b in ranges) or "-"

    @property
    def learner_updates_per_cpu_second(self) -> float:
        """The learner's capacity: transitions applied per CPU second it used."""
        cpu = self.learner_cpu_seconds
        return self.transitions_applied / cpu if cpu > 0 else 0.0

    @property
    def stopped_by_signal(self) -> bool:
        return self.stop_signal is not None

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


def check_shared_store(url: str) -> None:
    """Refuse, in one line, a store several processes cannot share safely."""
    parsed = parse_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return
    database = parsed.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        raise InvalidInputError(
            f"database URL {redact_url(parsed)!r}: an in-memory SQLite database cannot be "
            "shared by worker processes; use a file or PostgreSQL"
        )
    fstype = _filesystem_of(Path(database))
    if fstype in NETWORK_FILESYSTEMS:
        raise InvalidInputError(
            f"database URL {redact_url(parsed)!r}: SQLite on a {fstype} filesystem is not safe "
            "for several processes (WAL needs shared memory on one machine); use a local file "
            "or PostgreSQL"
        )


def _filesystem_of(path: Path) -> str | None:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    target = path.resolve().parent
    best, fstype = "", None
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and str(target).startswith(parts[1]) and len(parts[1]) > len(best):
            best, fstype = parts[1], parts[2]
    return fstype


def _actor_main(config_json: dict[str, Any], agent_name: str, budget: dict[str, Any],
                results: Any) -> None:  # fmt: skip
    """An actor process: ``train`` in the actor role; its result goes to ``results``."""
    from rlexec.logs import configure_logging

    configure_logging()
    startup_cpu = time.process_time()  # interpreter start and imports
    config = parse_config(config_json, source="the learner's config")
    try:
        result = asyncio.run(train(config, agent_name, role=Role.ACTOR, progress=False, **budget))
    except Exception as exc:  # reported by the parent in one line
        results.put({"error": f"{type(exc).__name__}: {exc}"})
        raise SystemExit(2) from None
    results.put(
        {
            **_result_dict(result),
            "startup_cpu_seconds": startup_cpu,
            "cpu_seconds": time.process_time(),
        }
    )


def _result_dict(result: TrainingResult) -> dict[str, Any]:
    return {
        "episodes": result.episodes,
        "steps": result.steps,
        "seconds": result.seconds,
        "first_seed": result.first_seed,
        "last_seed": result.last_seed,
        "running_mean_is_bps": result.running_mean_is_bps,
        "dropped": result.dropped,
        "stop_signal": result.stop_signal,
        "run_id": result.run_id,
        "backpressure_seconds": result.backpressure_seconds,
    }


async def run_learner(
    config: Config,
    agent_name: str,
    stop: StopSignal,
    actors_done: asyncio.Event,
    run_id: str,
    progress: Progress,
) -> LearnerRun:
    """Wait for the lease (standby), then apply queued transitions until ``stop`` or until
    the actors are done and the queue is drained; validate the table as training does (every
    ``evaluation.validate_every`` episodes applied, and at the end: the verdict, stored).
    ``progress``: advanced by the episodes applied (disabled: shows nothing)."""
    rl = config.rl_execution
    while True:
        persistent = assemble(config, agent_name, mode=AgentMode.TRAINING, role=Role.LEARNER)
        store = persistent.store
        try:
            await persistent.load()
            break
        except LearnerBusyError as exc:
            if stop.requested or actors_done.is_set():
                raise
            log.info("standby learner: %s", exc)
    engine = engine_for(rl.database)
    validation = TrainingValidation.of(
        config,
        agent_name=agent_name,
        engine=engine,
        store=store,
        config_hash=persistent.config_hash,
        run_id=run_id,
        typical_queue_depth=typical_queue_depth(build_market(rl)),
        on_validation=lambda v: progress.note(validation=f"{v.difference.mean:+.2f}"),
    )
    store.hold_after_episodes = validation.next_due(0)  # validate exactly there
    store.start()
    busy = 0.0
    idle_poll = idle_poll_secs(rl.persistence.save_interval_secs)
    agent = persistent.agent
    verdict: PromotionVerdict | None = None
    try:
        idle_rounds = 0
        while not stop.requested and store.lease_lost is None:
            try:
                started = time.perf_counter()
                applied = await store.fetch_and_apply()
                busy += time.perf_counter() - started if applied else 0.0
            except StoreError:
                applied = 0
                await asyncio.sleep(rl.persistence.probe_interval_secs)
            done = store.episodes_applied
            if done > progress.count:
                progress.note(epsilon=f"{agent.epsilon:.3f}")
                progress.update(done - progress.count)
            if done == store.hold_after_episodes:
                await validation.validate(agent, done)
                store.hold_after_episodes = validation.next_due(done)
                store.append_policy_metrics(
                    persistent.policy_metrics_record(source="training", run_id=validation.run_id)
                )
                continue  # apply what waited behind the validation
            if applied:
                idle_rounds = 0
                continue
            idle_rounds += 1
            if actors_done.is_set() and idle_rounds >= 2:
                break  # the actors flushed at close: everything queued is applied
            await asyncio.sleep(idle_poll)
        if store.lease_lost is None:
            store.hold_after_episodes = None
            verdict = await validation.finish(agent, store.episodes_applied)
            store.append_policy_metrics(
                persistent.policy_metrics_record(source="training", run_id=validation.run_id)
            )
    finally:
        await store.close()
        await dispose_engine(engine)
    return LearnerRun(store, busy, verdict, validation.history, float(agent.epsilon))


async def train_workers(
    config: Config,
    agent_name: str,
    workers: int,
    *,
    episodes: int | None = None,
    minutes: float | None = None,
    handle_signals: bool = True,
    progress: bool = False,
) -> WorkersResult:
    """Start ``workers`` actor processes and run the learner here (see the module doc).
    ``progress``: the episodes the learner has applied, on stderr (``rlexec.progress``)."""
    check_agent_name(agent_name)
    if workers < 1:
        raise InvalidInputError(f"workers = {workers}: expected >= 1")
    url = config.rl_execution.database.url
    check_shared_store(url)
    await require_schema(url, create=True)
    budget: dict[str, Any] = {"minutes": minutes, "run_id": new_run_id()}  # one run, N actors
    if episodes is not None:
        budget["episodes"] = max(1, math.ceil(episodes / workers))
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    config_json = config.model_dump(mode="json")
    stop = StopSignal()
    if handle_signals:
        stop.install()
    started = time.perf_counter()
    cpu_started = time.process_time()
    procs = [
        context.Process(
            target=_actor_main,
            args=(config_json, agent_name, budget, results),
            name=f"rlexec-actor-{i}",
            daemon=False,
        )
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    actors_done = asyncio.Event()
    collected: list[dict[str, Any]] = []

    async def watch_actors() -> None:
        forwarded = False
        while any(p.is_alive() for p in procs):
            if stop.requested and not forwarded:
                for p in procs:
                    if p.pid is not None and p.is_alive():
                        p.terminate()  # SIGTERM: the actor stops after its episode, flushes
                forwarded = True
            await asyncio.sleep(0.1)
        actors_done.set()

    watcher = asyncio.get_running_loop().create_task(watch_actors())
    try:
        bar = Progress(
            f"train {agent_name} ({workers} actors)",
            total=episodes and budget["episodes"] * workers,
            budget_secs=None if minutes is None else minutes * 60.0,
            enabled=progress,
        )
        try:
            learner = await run_learner(
                config, agent_name, stop, actors_done, budget["run_id"], bar
            )
        finally:
            bar.close()
        if stop.requested:
            await watcher
    finally:
        if not watcher.done():
            for p in procs:
                p.terminate()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        for p in procs:
            p.join(10)
        while not results.empty():
            collected.append(results.get())
        stop.remove()
    errors = [r["error"] for r in collected if "error" in r]
    if errors:
        raise StoreError(f"{len(errors)} of {workers} actors failed; first: {errors[0]}")
    seconds = time.perf_counter() - started
    return WorkersResult(
        agent_name=agent_name,
        workers=workers,
        actor_results=collected,
        episodes=sum(r["episodes"] for r in collected),
        steps=sum(r["steps"] for r in collected),
        seconds=seconds,
        transitions_applied=learner.store.transitions_applied,
        updates=int(learner.store.agent.updates),
        learner_updates_per_second=(
            learner.store.transitions_applied / learner.busy_seconds
            if learner.busy_seconds > 0
            else 0.0
        ),
        stop_signal=None if stop.received is None else int(stop.received),
        learner_cpu_seconds=time.process_time() - cpu_started,
        promotion=learner.promotion,
        validations=learner.validations,
        epsilon=learner.epsilon,
    )
