"""``rlexec train``: train an agent on the configured market, learning into the store.

    rlexec train [--agent NAME] [--episodes N] [--minutes M] [--reward-mode shortfall|original]
                 [--market MARKET] [--metrics-every K] [--no-progress] [--workers N]

Resumes the agent if it is in the store (Q-table, epsilon, replay experiences; seeds continue
after its last training seed). A new SQLite database is created (with a one-line notice); an
existing database must be at the schema head (``rlexec db upgrade``). SIGINT (Ctrl-C) and
SIGTERM stop after the current episode; after the final flush the command exits 128 + the
signal (130 for Ctrl-C, 143 for SIGTERM). Progress
goes to stderr (``rlexec.progress``). ``--workers N`` starts N actor processes and runs the
agent's learner in this one (``rlexec.training.workers``; on several machines, the same command
against one PostgreSQL URL).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rlexec.cli.common import add_agent, command, config_from_args
from rlexec.cli.training_args import add_market, positive_float, positive_int, with_market
from rlexec.store.engine import redact_url
from rlexec.wording import plural

if TYPE_CHECKING:
    from rlexec.training.validation import PromotionVerdict, Validation

DEFAULT_EPISODES = 500


def register(subparsers: Any) -> None:
    p = command(
        subparsers,
        "train",
        "train an agent (learns into the store)",
        epilog="Ctrl-C (SIGINT) or SIGTERM stops after the current episode; the command then "
        "makes the final flush and exits 128 + the signal (130, 143). A new SQLite database is "
        "created with a one-line notice; an older schema is refused until `rlexec db upgrade`.",
    )
    add_agent(p)
    p.add_argument("--episodes", type=positive_int,
                   help=f"episodes to run (default: {DEFAULT_EPISODES}, or as many as "
                        "--minutes allows when it is given)")  # fmt: skip
    p.add_argument(
        "--minutes",
        type=positive_float,
        help="wall-clock budget in minutes (with --episodes: whichever ends first)",
    )
    p.add_argument(
        "--reward-mode",
        choices=("shortfall", "original"),
        help="reward of a NEW agent (default: config); an existing agent keeps its own",
    )
    p.add_argument("--metrics-every", type=positive_int, default=100,
                   help="write a policy-metrics row every K episodes")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    p.add_argument("--workers", type=positive_int,
                   help="N actor processes and one learner (this process)")  # fmt: skip
    add_market(p)
    p.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from rlexec.logs import configure_logging
    from rlexec.training.markets import describe_parents
    from rlexec.training.train import train

    configure_logging()
    if args.episodes is None and args.minutes is None:
        args.episodes = DEFAULT_EPISODES
    config = with_market(config_from_args(args), args.market)
    if args.workers:
        return _train_workers(args, config)
    result = asyncio.run(
        train(
            config,
            args.agent,
            episodes=args.episodes,
            minutes=args.minutes,
            reward_mode=args.reward_mode,
            metrics_every=args.metrics_every,
            progress=not args.no_progress,
        )
    )
    resumed = f"resumed ({result.q_rows_loaded} Q rows loaded)" if result.q_rows_loaded else "new"
    if result.last_seed is None:
        seeds = "-"
    elif result.last_seed == result.first_seed:
        seeds = f"seed {result.first_seed}"
    else:
        seeds = f"seeds {result.first_seed}..{result.last_seed}"
    print(f"parents: {describe_parents(config.rl_execution.simulator)}")
    print(
        f"agent {result.agent_name!r} ({resumed}, reward {result.reward_mode}): "
        f"{plural(result.episodes, 'episode')}, {seeds}, {result.steps:,} steps in "
        f"{result.seconds:.1f} s "
        f"({result.steps_per_second:,.0f} steps/s"
        + (
            f" without the {result.validation_seconds:.1f} s of validations"
            if result.validation_seconds
            else ""
        )
        + "); running mean IS "
        f"{result.running_mean_is_bps:.3f} bps; epsilon {result.epsilon:.4f}"
        + ("; stopped by signal" if result.stopped_by_signal else "")
    )
    _print_verdict(result.validations, result.promotion)
    dropped = sum(result.dropped.values())
    if dropped:
        print(f"warning: {dropped} rows were shed while the store was down: {result.dropped}")
    print(f"stored in {redact_url(config.rl_execution.database.url)}")
    return 128 + result.stop_signal if result.stop_signal else 0


def _train_workers(args: argparse.Namespace, config: Any) -> int:
    from rlexec.training.markets import describe_parents
    from rlexec.training.workers import train_workers

    result = asyncio.run(
        train_workers(
            config,
            args.agent,
            args.workers,
            episodes=args.episodes,
            minutes=args.minutes,
            progress=not args.no_progress,
        )
    )
    print(f"parents: {describe_parents(config.rl_execution.simulator)}")
    print(
        f"agent {result.agent_name!r}: {plural(result.workers, 'actor')}, "
        f"{plural(result.episodes, 'episode')}, "
        f"{result.steps:,} steps in {result.seconds:.1f} s ({result.steps_per_second:,.0f} "
        f"steps/s); learner applied {result.transitions_applied:,} transitions "
        f"({result.learner_updates_per_second:,.0f}/s while busy), {result.updates:,} updates; "
        f"seeds {result.seed_ranges()}; running mean IS {result.running_mean_is_bps:.3f} bps; "
        f"epsilon {result.epsilon:.4f}"
        + ("; stopped by signal" if result.stopped_by_signal else "")
    )
    _print_verdict(result.validations, result.promotion)
    print(f"stored in {redact_url(config.rl_execution.database.url)}")
    return 128 + result.stop_signal if result.stop_signal else 0


def _print_verdict(validations: Sequence[Validation], promotion: PromotionVerdict | None) -> None:
    """The learner's validations and its promotion verdict, one line each."""
    for v in validations:
        d = v.difference
        print(
            f"validation at {v.episodes_trained} episodes: policy - {d.baseline} = "
            f"{d.mean:+.3f} bps [{d.low:+.3f}, {d.high:+.3f}] on {len(v.seeds)} seeds"
        )
    if promotion is not None:
        print(f"promotion: {promotion.summary()}")
