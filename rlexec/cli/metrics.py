"""``rlexec metrics [--agent A] [--last N]``: the agent's latest policy metrics and a trend."""

from __future__ import annotations

import argparse
from typing import Any

from rlexec.analytics.metrics import format_metrics, read_metrics
from rlexec.cli.common import add_agent, command, with_engine
from rlexec.cli.training_args import positive_int


def register(subparsers: Any) -> None:
    metrics = command(subparsers, "metrics", "latest policy metrics and their trend")
    add_agent(metrics)
    metrics.add_argument("--last", type=positive_int, default=10, help="rows in the trend")
    metrics.set_defaults(handler=_metrics)


def _metrics(args: argparse.Namespace) -> int:
    rows = with_engine(args, lambda engine, _: read_metrics(engine, args.agent))
    print(format_metrics(args.agent, rows, args.last))
    return 0
