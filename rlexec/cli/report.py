"""``rlexec report``: PNG plots and summary.md from a saved comparison and the store.

rlexec report [--out reports/latest] [--comparison PATH] [--agents a,b]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rlexec.cli.common import command, config_from_args
from rlexec.cli.compare import DEFAULT_OUT
from rlexec.cli.training_args import agent_list


def register(subparsers: Any) -> None:
    p = command(subparsers, "report", "plots and Markdown summary of a comparison")
    p.add_argument("--out", default=DEFAULT_OUT, help="report folder")
    p.add_argument("--comparison", help="comparison.json (default: <out>/comparison.json)")
    p.add_argument("--agents", type=agent_list,
                   help="agents to plot (default: the compared ones)")  # fmt: skip
    p.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from rlexec.report.build import write_report
    from rlexec.report.verdict import print_verdict

    config = config_from_args(args)
    report = asyncio.run(
        write_report(config, args.out, comparison=args.comparison, agents=args.agents)
    )
    print_verdict(report.verdict)
    for plot in report.plots:
        print(f"  {plot}")
    print(f"report written: {report.summary.resolve()}")
    return 0
