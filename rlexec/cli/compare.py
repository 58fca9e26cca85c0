"""``rlexec compare``: trained agents (greedy) against TWAP, VWAP, submit-and-leave (and the
Almgren-Chriss optimum on that model) over paired held-out seeds.

    rlexec compare [--agents default,original-reward] [--seeds N] [--out reports/latest]
                   [--market MARKET] [--risk-aversion L] [--force] [--no-store] [--no-progress]
                   [--policy current|promoted|ID]

``--policy`` as for ``rlexec evaluate`` (a snapshot id with a single agent only).

Prints the verdict (each agent against its base and the best baseline, in words) and the
comparison table; stores the episodes (mode "evaluation") and writes every
per-episode result to ``<out>/comparison.json`` for ``rlexec report``. An agent trained on
another simulated problem (market, parent orders) is refused unless ``--force`` (then a
warning says so).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rlexec.cli.common import DEFAULT_AGENT, command, config_from_args
from rlexec.cli.training_args import add_scoring, agent_list, non_negative_float, with_market

DEFAULT_OUT = "reports/latest"


def register(subparsers: Any) -> None:
    p = command(
        subparsers,
        "compare",
        "agents vs TWAP/VWAP/... on paired seeds",
        description="Agents (greedy) against TWAP, VWAP (aggressive and passive) and "
        "submit-and-leave on the same held-out seeds; with --market almgren_chriss also the "
        "Almgren-Chriss optimum.",
    )
    p.add_argument("--agents", type=agent_list, default=DEFAULT_AGENT,
                   help="comma-separated agent names")  # fmt: skip
    p.add_argument("--out", default=DEFAULT_OUT, help="output folder")
    p.add_argument("--risk-aversion", type=non_negative_float, default=0.0,
                   help="lambda of the AC optimum (0: risk neutral)")  # fmt: skip
    add_scoring(p)
    p.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    from rlexec.agent import base_executor_name
    from rlexec.logs import configure_logging
    from rlexec.report.verdict import comparison_verdict, print_verdict
    from rlexec.training.evaluate import RESULTS_FILE, policy_note, run_comparison
    from rlexec.training.markets import describe_parents

    configure_logging()  # the --force warning
    config = with_market(config_from_args(args), args.market)
    run = asyncio.run(
        run_comparison(
            config,
            args.agents,
            seeds=args.seeds,
            store=not args.no_store,
            out_dir=args.out,
            risk_aversion=args.risk_aversion,
            progress=not args.no_progress,
            force=args.force,
            policy=args.policy,
        )
    )
    print_verdict(comparison_verdict(run, base_executor_name(config)).blocks())
    print(f"parents: {describe_parents(config.rl_execution.simulator)}")
    print(run.table())
    print(policy_note(args.policy, run.snapshot_ids))
    print(f"per-episode results: {args.out}/{RESULTS_FILE}")
    return 0
