"""Argument helpers shared by ``rlexec train/evaluate/compare/report``: value checks that give
argparse's one-line errors, and config overrides (``--market``)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from rlexec.cli.common import agent_name
from rlexec.config import Config, override
from rlexec.errors import InvalidInputError
from rlexec.names import PolicyChoice, parse_policy_choice

MARKETS = ("equity", "prediction_market", "almgren_chriss", "recorded")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a number > 0")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be a number >= 0")
    return value


def agent_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not names or any(not n for n in names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated agent names")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: an agent is named twice")
    return [agent_name(n) for n in names]


def policy_choice(text: str) -> PolicyChoice:
    try:
        return parse_policy_choice(text)
    except InvalidInputError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected current, promoted or a snapshot id (see rlexec snapshot list)"
        ) from None


def add_scoring(parser: Any) -> None:
    """The options ``evaluate`` and ``compare`` share: seeds, storing, --force, progress, the
    table scored and the market."""
    parser.add_argument("--seeds", type=positive_int,
                        help="held-out seeds (default: evaluation.seeds)")  # fmt: skip
    parser.add_argument("--no-store", action="store_true", help="do not store the episodes")
    parser.add_argument("--force", action="store_true",
                        help="score an agent trained on another simulated problem (market, "
                        "parent orders), with a warning")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress output on stderr")  # fmt: skip
    add_policy(parser)
    add_market(parser)


def add_policy(parser: Any) -> None:
    parser.add_argument(
        "--policy", type=policy_choice, default="current",
        help="the table scored: current (the latest trained, default), promoted (the latest "
        "promoted snapshot: what production runs) or a snapshot id",
    )  # fmt: skip


def add_market(parser: Any) -> None:
    parser.add_argument("--market", choices=MARKETS, help="overrides rl_execution.simulator.market")


def with_market(config: Config, market: str | None) -> Config:
    return config if market is None else override(config, "simulator", market=market)
