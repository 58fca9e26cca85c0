"""The report's Markdown summary: the comparison table and links to the plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rlexec.execution.metrics import ExecutorSummary


def comparison_table(summaries: Sequence[ExecutorSummary], reference: str) -> str:
    """One row per executor: mean, median, std, p95 IS, completion, the paired difference
    against ``reference`` with its 95% CI, the relative change of the mean, and the share of
    seeds cheaper than ``reference``."""
    ref = next((s for s in summaries if s.name == reference), None)
    header = (
        "| executor | n | mean IS (bps) | median | std | p95 | completion "
        f"| diff vs {reference} [95% CI] | mean vs {reference} | better than {reference} |"
    )
    lines = [header, "|" + "---|" * 10]
    for s in summaries:
        if s.vs_baseline is None:
            diff = better = relative = "-"
        else:
            p = s.vs_baseline
            diff = f"{p.mean:+.3f} [{p.low:+.3f}, {p.high:+.3f}]"
            better = f"{p.share_better:.1%}"
            relative = _relative(p.mean, ref.mean_bps if ref is not None else None)
        lines.append(
            f"| {s.name} | {s.n} | {s.mean_bps:.3f} | {s.median_bps:.3f} | {s.std_bps:.3f} "
            f"| {s.p95_bps:.3f} | {s.completion_rate:.1%} | {diff} | {relative} | {better} |"
        )
    return "\n".join(lines)


def _relative(diff: float, reference_mean: float | None) -> str:
    if reference_mean is None or abs(reference_mean) < 1e-12:
        return "-"
    return f"{diff / abs(reference_mean):+.1%}"


def render_summary(
    *,
    title: str,
    context: Sequence[str],
    table: str,
    plots: Mapping[str, str],
    notes: Sequence[str] = (),
) -> str:
    """The whole summary.md: title, context bullets, table, notes, plot links (relative)."""
    out = [f"# {title}", ""]
    out += [f"- {line}" for line in context]
    out += ["", "## Comparison on paired held-out seeds", "", table, ""]
    if notes:
        out += [f"- {line}" for line in notes]
        out.append("")
    out += ["## Plots", ""]
    for caption, file in plots.items():
        out += [f"### {caption}", "", f"![{caption}]({file})", ""]
    return "\n".join(out)
