"""``rlexec evaluate``: the agent, greedy and never learning, against its base executor on
paired held-out seeds; prints the policy metrics with the estimated improvement and says in
words whether the difference from the base is significant (its 95% interval excludes 0).

    rlexec evaluate [--agent NAME] [--seeds N] [--market MARKET] [--force] [--no-store]
                    [--policy current|promoted|ID] [--no-progress]

``--policy`` chooses the table scored: the current one (the latest trained, the default), the
latest promoted snapshot (what a production agent acts on; refused when nothing was promoted)
or a snapshot of the agent by id (``rlexec snapshot list``).

An agent trained on another simulated problem (market, parent orders) than the one evaluated
on is refused unless ``--force`` (then a warning says so); one whose state config differs
from the config is refused.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rlexec.cli.common import add_agent, command, config_from_args
from rlexec.cli.training_args import add_scoring, with_market


def register(subparsers: Any) -> None:
    p = command(subparsers, "evaluate", "greedy paired evaluation against the base")
    add_agent(p)
    add_scoring(p)
    p.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from rlexec.logs import configure_logging
    from rlexec.report.verdict import compare_sentence
    from rlexec.training.evaluate import evaluate_agent, executor_label, policy_note
    from rlexec.training.markets import describe_parents

    configure_logging()  # the --force warning
    config = with_market(config_from_args(args), args.market)
    ev = asyncio.run(
        evaluate_agent(
            config,
            args.agent,
            seeds=args.seeds,
            store=not args.no_store,
            progress=not args.no_progress,
            force=args.force,
            policy=args.policy,
        )
    )
    m, s = ev.metrics, ev.summary
    p = s.vs_baseline
    assert p is not None
    base_mean = sum(r.is_bps for r in ev.base) / len(ev.base)
    print(f"parents: {describe_parents(config.rl_execution.simulator)}")
    print(f"agent {args.agent!r} (greedy) vs {ev.base_name} over {s.n} paired held-out seeds:")
    print(f"  mean IS: agent {s.mean_bps:.3f} bps, {ev.base_name} {base_mean:.3f} bps")
    print(
        f"  estimated improvement: {m.estimated_improvement:+.3f} bps "
        f"(paired diff {p.mean:+.3f} [{p.low:+.3f}, {p.high:+.3f}], agent cheaper on "
        f"{p.share_better:.1%} of seeds)"
    )
    print(f"  {compare_sentence('The agent', p, f'its base ({executor_label(ev.base_name)})')}")
    mix = ", ".join(f"{k} {v:.0%}" for k, v in m.action_distribution.items())
    print(
        f"  states visited: {m.num_states_visited}; mean Q {m.avg_q_value:.4f}; greedy mix: {mix}"
    )
    print(f"  {policy_note(args.policy, {args.agent: ev.snapshot_id})}")
    return 0
