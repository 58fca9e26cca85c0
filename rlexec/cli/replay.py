"""``rlexec replay ...``: re-simulate stored episodes and score logged decisions offline.

    rlexec replay episode ID                         re-simulate and compare (exit 1 if not)
    rlexec replay evaluate --policy SNAPSHOT|current [--agent A] [--since ISO-TIME]
                           [--epsilon E] [--gamma G]

``--policy current`` scores agent ``--agent``'s current Q-table (default: agent "default") on
that agent's logged decisions; a snapshot policy is scored on every agent's decisions unless
``--agent`` narrows them. Episode ids: ``rlexec episodes list``.
"""

from __future__ import annotations

import argparse
from typing import Any

from rlexec.cli.common import DEFAULT_AGENT, agent_name, command, with_engine
from rlexec.replay.episode import format_result, replay_episode
from rlexec.replay.evaluate import format_evaluation, parse_policy, replay_evaluate
from rlexec.replay.log import parse_since


def register(subparsers: Any) -> None:
    replay = subparsers.add_parser("replay", help="replay the audit trail")
    sub = replay.add_subparsers(dest="replay_command", required=True)
    episode = command(sub, "episode", "re-simulate a stored episode and compare")
    episode.add_argument("id", help="episode id (see 'rlexec episodes list')")
    episode.set_defaults(handler=_episode)
    evaluate = command(sub, "evaluate", "off-policy evaluation of a candidate policy")
    evaluate.add_argument(
        "--policy", required=True, help="a snapshot id, or 'current' (the agent's Q-table)"
    )
    evaluate.add_argument(
        "--agent",
        type=agent_name,
        help=f"only this agent's decisions, and whose table 'current' is (default: every "
        f"agent's decisions; with --policy current: {DEFAULT_AGENT})",
    )
    evaluate.add_argument("--since", help="only decisions at or after this ISO-8601 time")
    evaluate.add_argument("--epsilon", type=float, default=0.0, help="candidate's exploration")
    evaluate.add_argument("--gamma", type=float, default=1.0, help="per-episode discount")
    evaluate.set_defaults(handler=_evaluate)


def _episode(args: argparse.Namespace) -> int:
    result = with_engine(args, lambda engine, config: replay_episode(engine, args.id, config))
    print(format_result(result))
    return 0 if result.identical else 1


def _evaluate(args: argparse.Namespace) -> int:
    since = parse_since(args.since)
    parse_policy(args.policy)  # a bad --policy is reported before the database is opened
    agent = args.agent or (DEFAULT_AGENT if args.policy == "current" else None)
    result = with_engine(
        args,
        lambda engine, config: replay_evaluate(
            engine,
            config.rl_execution.state,
            config.rl_execution.q_learning,
            policy=args.policy,
            agent_name=agent,
            since=since,
            epsilon=args.epsilon,
            gamma=args.gamma,
        ),
    )
    print(format_evaluation(result))
    return 0
