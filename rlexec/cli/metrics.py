"""``rlexec metrics [--agent A] [--last N]``: the agent's latest policy metrics and a trend."""

from __future__ import annotations

import argparse
from typing import Any

from rlexec.analytics.metrics import format_metrics, read_metrics
from rlexec.cli.snapshot import with_engine


def register(subparsers: Any) -> None:
    metrics = subparsers.add_parser("metrics", help="latest policy metrics and their trend")
    metrics.add_argument("--agent", default="default", help="agent name in the store")
    metrics.add_argument("--last", type=int, default=10, help="rows in the trend (default 10)")
    metrics.set_defaults(handler=_metrics)


def _metrics(args: argparse.Namespace) -> int:
    rows = with_engine(args, lambda engine, _: read_metrics(engine, args.agent))
    print(format_metrics(args.agent, rows, max(1, args.last)))
    return 0
