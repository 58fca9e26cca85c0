"""``rlexec promotions list``: the promotion log, newest first - every validation of a trained
policy against its base, whether it was promoted for production, and the evidence.

    rlexec promotions list [--agent A] [--last N]
"""

from __future__ import annotations

import argparse
from typing import Any

from rlexec.cli.common import agent_name, command, with_engine
from rlexec.cli.training_args import positive_int
from rlexec.store.promotions import PromotionRow, list_promotions


def register(subparsers: Any) -> None:
    promotions = subparsers.add_parser(
        "promotions", help="the promotion log (validated policies, promoted or not)"
    )
    sub = promotions.add_subparsers(dest="promotions_command", required=True)
    listing = command(sub, "list", "promotions, newest first, with their validation figures")
    listing.add_argument("--agent", type=agent_name,
                         help="only this agent's promotions (default: every agent's)")  # fmt: skip
    listing.add_argument("--last", type=positive_int, default=20, help="how many promotions")
    listing.set_defaults(handler=_list)


def _list(args: argparse.Namespace) -> int:
    rows = with_engine(args, lambda engine, _: list_promotions(engine, args.agent, last=args.last))
    print(format_promotions(rows, args.agent))
    return 0


def format_promotions(rows: list[PromotionRow], agent_name: str | None = None) -> str:
    """The table ``rlexec promotions list`` prints (newest first)."""
    if not rows:
        return "no promotions" + ("" if agent_name is None else f" of agent {agent_name!r}")
    header = (
        f"{'id':>5} {'created_at (UTC)':<19} {'agent':<16} {'promoted':<8} {'snapshot':<12} "
        f"{'base':<16} {'policy IS':>9} {'base IS':>9} {'diff bps [95% CI]':<28} "
        f"{'seeds':<17} {'episodes':>9} reason"
    )
    out = [header]
    for row in rows:
        r = row.record
        snapshot = "-" if r.snapshot_id is None else f"{r.snapshot_id} (v{row.snapshot_version})"
        ci = f"{r.mean_difference_bps:+.3f} [{r.difference_ci_low_bps:+.3f}, "
        ci += f"{r.difference_ci_high_bps:+.3f}]"
        seeds = f"{r.seeds.start}-{r.seeds.stop - 1}"
        out.append(
            f"{row.id:>5} {r.created_at:%Y-%m-%d %H:%M:%S} {row.agent_name[:16]:<16} "
            f"{'yes' if r.promoted else 'no':<8} {snapshot:<12} {r.base_executor[:16]:<16} "
            f"{r.policy_mean_is_bps:>9.3f} {r.base_mean_is_bps:>9.3f} {ci:<28} "
            f"{seeds:<17} {r.episodes_trained:>9} {r.reason}"
        )
    return "\n".join(out)
