"""The report's Markdown summary: the verdict first, then the comparison table (the one
``rlexec compare`` prints), notes and links to the plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def render_summary(
    *,
    title: str,
    verdict: Sequence[Sequence[str]],
    context: Sequence[str],
    table: str,
    plots: Mapping[str, str],
    notes: Sequence[str] = (),
    promotion: Sequence[str] = (),
) -> str:
    """The whole summary.md: title, the verdict (blocks of a heading and sentences), the promotion
    section (only when ``promotion`` has lines), context bullets, the table, notes and plot
    links (relative)."""
    out = [f"# {title}", "", "## Verdict", ""]
    for block in verdict:
        head, *sentences = block
        out += [f"**{head}**", ""]
        out += [f"- {line}" for line in sentences]
        out.append("")
    if promotion:
        out += ["## Promotion for production", ""]
        out += [f"- {line}" for line in promotion]
        out.append("")
    out += ["## Setup", ""]
    out += [f"- {line}" for line in context]
    out += ["", "## Comparison on paired held-out seeds", "", table, ""]
    if notes:
        out += [f"- {line}" for line in notes]
        out.append("")
    out += ["## Plots", ""]
    for caption, file in plots.items():
        out += [f"### {caption}", "", f"![{caption}]({file})", ""]
    return "\n".join(out)
