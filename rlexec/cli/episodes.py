"""``rlexec episodes list``: the stored episodes with their ids (for ``rlexec replay episode
ID``), newest last.

    rlexec episodes list [--agent A] [--mode training|production|evaluation]
                         [--executor E] [--last N]
"""

from __future__ import annotations

import argparse
from typing import Any

from rlexec.analytics.episodes import format_episodes, list_episodes
from rlexec.cli.common import agent_name, command, with_engine
from rlexec.cli.training_args import positive_int
from rlexec.config import AgentMode


def register(subparsers: Any) -> None:
    episodes = subparsers.add_parser("episodes", help="list stored episodes and their ids")
    sub = episodes.add_subparsers(dest="episodes_command", required=True)
    listing = command(sub, "list", "the most recent stored episodes, newest last")
    listing.add_argument("--agent", type=agent_name,
                         help="only this agent's episodes (baselines: 'baselines')")  # fmt: skip
    listing.add_argument("--mode", choices=[str(m) for m in AgentMode], help="only this mode")
    listing.add_argument("--executor",
                         help="only this executor (e.g. rl:default, twap_passive)")  # fmt: skip
    listing.add_argument("--last", type=positive_int, default=20, help="how many episodes")
    listing.set_defaults(handler=_list)


def _list(args: argparse.Namespace) -> int:
    lines = with_engine(
        args,
        lambda engine, _: list_episodes(
            engine, agent=args.agent, mode=args.mode, executor=args.executor, last=args.last
        ),
    )
    print(format_episodes(lines))
    return 0
