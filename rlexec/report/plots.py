"""The report's PNG plots (matplotlib, Agg backend: no display needed).

Each ``*_figure`` function draws a figure (tests inspect it); ``save`` writes it as a PNG.

- ``learning_curve_figure``: each agent's training episodes' IS against the episode number,
  with a rolling mean, the comparison's levels (the base's and the best baseline's mean IS on
  the held-out seeds) as horizontal lines and, below, the exploration rate the episodes ran
  at (read from the stored decisions). When the y-axis leaves episodes out, the plot says how
  many.
- ``is_distribution_figure``: IS per executor (box plots, means marked) over the paired seeds;
- ``paired_differences_figure``: histograms of paired IS differences on one shared x-range:
  each agent against its base first, then against the best baseline, then every other
  baseline against the base; a panel that repeats one already drawn (or a baseline that runs
  like the base) is not drawn and the figure says so (``difference_panels``);
- ``action_heatmap_figure``: two maps by time elapsed x remaining size. Top: the greedy action
  read from the Q-table; each cell pools the *visited* states with those two buckets (the
  other features marginalised, each state weighted by its training visits) and shows the most
  frequent greedy action and its share of the cell's visits. Bottom: where the agent deviates
  from its base: the share of its decisions whose action differs from the base schedule's
  (``rlexec.report.data.DeviationGrid``) and the action it took most often instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from rlexec.config import QLearningConfig
from rlexec.execution.metrics import EpisodeResult, PairedDifference, paired_difference
from rlexec.report.data import DeviationGrid, TrainingCurve
from rlexec.rl.metrics import greedy_actions
from rlexec.rl.policy import PolicyTable, RuleParameters
from rlexec.rl.state import StateDiscretizer
from rlexec.rl.types import ExecutionAction

DPI = 110
# matplotlib 3.10 replaced boxplot's ``vert=False`` by ``orientation="horizontal"``
_MPL = tuple(int(p) for p in matplotlib.__version__.split(".")[:2])
_HORIZONTAL: dict[str, Any] = {"orientation": "horizontal"} if _MPL >= (3, 10) else {"vert": False}
ACTION_COLOURS = ("#bdbdbd", "#c6dbef", "#6baed6", "#2171b5", "#08306b", "#e6550d")
LEVEL_COLOURS = ("black", "#7b3294", "#008837")  # the base, the best baseline
# Two panels of paired differences are "the same" when their per-seed differences differ by
# at most this share of the reference's IS standard deviation (root mean square over seeds).
DUPLICATE_SHARE = 0.05
NOTE_BOX = {"boxstyle": "round", "facecolor": "#fff7bc", "edgecolor": "#d95f0e", "alpha": 0.9}


def rolling_mean(values: Sequence[float], window: int) -> npt.NDArray[np.float64]:
    """Trailing mean over up to ``window`` values (shorter at the start)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return x
    csum = np.cumsum(np.insert(x, 0, 0.0))
    idx = np.arange(1, x.size + 1)
    lo = np.maximum(0, idx - window)
    out: npt.NDArray[np.float64] = (csum[idx] - csum[lo]) / (idx - lo)
    return out


# ------------------------------------------------------------------------ learning curve


def clipped_limits(
    values: npt.NDArray[np.float64], keep: Sequence[float] = ()
) -> tuple[float, float, int, int]:
    """Axis limits over the 1st-99th percentile of ``values`` (padded), widened to show every
    value of ``keep``; and how many values lie below and above them."""
    x = values[np.isfinite(values)]
    if x.size == 0:
        return -1.0, 1.0, 0, 0
    low, high = (float(v) for v in np.percentile(x, [1, 99]))
    pad = 0.1 * max(high - low, 1e-6)
    low, high = low - pad, high + pad
    if keep:
        low, high = min(low, *keep), max(high, *keep)
    return low, high, int((x < low).sum()), int((x > high).sum())


def learning_curve_figure(
    curves: Mapping[str, TrainingCurve],
    *,
    levels: Sequence[tuple[str, float]] = (),
    window: int = 100,
) -> Figure:
    """``curves``: agent name -> its training episodes; ``levels``: (label, mean IS in bps)
    drawn as horizontal lines (the base and the best baseline on the held-out seeds). Axes 0:
    the IS, axes 1: epsilon."""
    fig, (ax, ax_eps) = plt.subplots(
        2, 1, figsize=(9, 6.4), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = False
    eps_drawn = False
    points = []
    keep: list[float] = [level for _, level in levels]
    for i, (agent, curve) in enumerate(curves.items()):
        values = curve.is_bps
        if values.size == 0:
            continue
        colour = colours[i % len(colours)]
        x = np.arange(1, values.size + 1)
        ax.plot(x, values, ".", ms=2, alpha=0.15, color=colour)
        mean = rolling_mean(values.tolist(), window)
        ax.plot(x, mean, lw=2, color=colour, label=f"{agent}: rolling mean ({window} episodes)")
        points.append(values)
        keep += [float(mean.min()), float(mean.max())]
        drawn = True
        if np.isfinite(curve.epsilon).any():
            ax_eps.plot(x, curve.epsilon, lw=1.5, color=colour, label=agent)
            eps_drawn = True
    for j, (label, level) in enumerate(levels):
        ax.axhline(level, color=LEVEL_COLOURS[j % len(LEVEL_COLOURS)], lw=1.4,
                   ls=("--", "-.", ":")[j % 3], label=label)  # fmt: skip
    ax.axhline(0.0, color="#969696", lw=0.6)
    if not drawn:
        ax.text(0.5, 0.5, "no training episodes in the store", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
    else:
        all_points = np.concatenate(points)
        low, high, below, above = clipped_limits(all_points, keep)
        ax.set_ylim(low, high)
        if below or above:
            ax.text(
                0.01, 0.98,
                f"y-axis clipped to [{low:.1f}, {high:.1f}] bps: {below + above} of "
                f"{all_points.size} episodes not shown ({below} below, {above} above)",
                transform=ax.transAxes, ha="left", va="top", fontsize=8, bbox=NOTE_BOX,
            )  # fmt: skip
    ax.set_ylabel("implementation shortfall (bps)")
    ax.set_title("Learning curve: IS of training episodes (exploration on)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    if eps_drawn:
        ax_eps.set_ylim(bottom=0.0)
        ax_eps.legend(loc="upper right", fontsize=8)
    else:
        ax_eps.text(0.5, 0.5, "epsilon unknown: no stored decisions of these episodes",
                    ha="center", va="center", transform=ax_eps.transAxes, fontsize=9)  # fmt: skip
    ax_eps.set_ylabel("epsilon")
    ax_eps.set_title("exploration rate: mean epsilon of each episode's stored decisions",
                     fontsize=9)  # fmt: skip
    ax_eps.set_xlabel("training episode (seed order)")
    ax_eps.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ IS distribution


def is_distribution_figure(results: Mapping[str, Sequence[EpisodeResult]]) -> Figure:
    names = list(results)
    data = [np.asarray([r.is_bps for r in results[n]]) for n in names]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(names) + 1.8))
    ax.boxplot(data, showfliers=False, whis=(5, 95), **_HORIZONTAL)
    ax.set_yticks(range(1, len(names) + 1), names)
    means = [float(d.mean()) for d in data]
    ax.plot(means, range(1, len(names) + 1), "D", color="#e6550d", label="mean")
    ax.axvline(0.0, color="black", lw=0.6)
    ax.invert_yaxis()
    n = len(data[0]) if data else 0
    ax.set_xlabel("implementation shortfall (bps); box: quartiles, whiskers: 5th-95th pct")
    ax.set_title(f"IS per executor over {n} paired held-out seeds")
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ paired differences


@dataclass(frozen=True, slots=True)
class Panel:
    """One histogram: ``IS(executor) - IS(against)`` on the paired seeds."""

    executor: str
    against: str
    title: str
    differences: npt.NDArray[np.float64]
    paired: PairedDifference


def difference_panels(
    results: Mapping[str, Sequence[EpisodeResult]],
    *,
    agents: Sequence[str],
    base: str,
    best: str,
) -> tuple[list[Panel], list[str]]:
    """The panels to draw, in order, and a note per panel left out (see the module doc)."""
    values = {name: np.asarray([r.is_bps for r in res]) for name, res in results.items()}
    candidates: list[tuple[str, str, str, bool]] = []  # executor, against, title, always
    for agent in agents:
        candidates.append((agent, base, f"{agent} - {base} (its base)", True))
        if best != base:
            candidates.append((agent, best, f"{agent} - {best} (best baseline)", False))
    others = sorted((n for n in values if n not in agents and n != base),
                    key=lambda n: float(values[n].mean()))  # fmt: skip
    for name in others:
        role = " (best baseline)" if name == best else ""
        candidates.append((name, base, f"{name}{role} - {base} (base)", False))
    tolerance = DUPLICATE_SHARE * max(float(np.std(values[base], ddof=1)), 1e-9)
    panels: list[Panel] = []
    skipped: list[str] = []
    for executor, against, title, always in candidates:
        d = values[executor] - values[against]
        twin = next((p for p in panels if _rms(d - p.differences) <= tolerance), None)
        if not always and _rms(d) <= tolerance:
            skipped.append(f"{executor}: runs like {against} (rms difference {_rms(d):.3f} bps)")
            continue
        if not always and twin is not None:
            skipped.append(
                f"{executor} - {against}: same as {twin.executor} - {twin.against} "
                f"(rms {_rms(d - twin.differences):.3f} bps)"
            )
            continue
        paired = paired_difference(values[executor], values[against], against)
        panels.append(Panel(executor, against, title, d, paired))
    return panels, skipped


def _rms(x: npt.NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def paired_differences_figure(panels: Sequence[Panel], skipped: Sequence[str]) -> Figure:
    """One axes per panel, in order (``difference_panels``), and a note of those not drawn."""
    cols = 2 if len(panels) > 1 else 1
    rows = max(1, -(-len(panels) // cols))
    footer_inches = 0.3 + 0.17 * len(skipped) if skipped else 0.0
    height = 3.2 * rows + 0.6 + footer_inches
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, height), squeeze=False,
                             sharex=True)  # fmt: skip
    everything = np.concatenate([p.differences for p in panels]) if panels else np.zeros(1)
    keep = [0.0] + [x for p in panels for x in (p.paired.low, p.paired.high)]
    low, high, _, _ = clipped_limits(everything, keep)
    bins = np.linspace(low, high, 61)
    for ax, panel in zip(axes.flat, panels, strict=False):
        _difference_panel(ax, panel, bins)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel("paired IS difference (bps), the same x-range in every panel")
    fig.suptitle("Paired IS differences on the same seeds (negative: the first is cheaper); "
                 "band: 95% CI of the mean")  # fmt: skip
    if skipped:
        text = "Not drawn (the same as a panel above, or no different from the base):\n" + (
            "\n".join(f"  {line}" for line in skipped)
        )
        fig.text(0.01, 0.01, text, fontsize=8, va="bottom", ha="left")
    fig.tight_layout(rect=(0.0, footer_inches / height, 1.0, 1.0))
    return fig


def _difference_panel(ax: Axes, panel: Panel, bins: npt.NDArray[np.float64]) -> None:
    p, d = panel.paired, panel.differences
    outside = int(((d < bins[0]) | (d > bins[-1])).sum())
    ax.hist(d, bins=bins.tolist(), color="#6baed6", edgecolor="white")
    ax.axvline(0.0, color="black", lw=0.8)
    ax.axvspan(p.low, p.high, color="#e6550d", alpha=0.25)
    ax.axvline(p.mean, color="#e6550d", lw=2)
    word = "significant" if p.significant else "not significant"
    extra = f"; {outside} outside the x-range" if outside else ""
    ax.set_title(
        f"{panel.title}\nmean {p.mean:+.2f} bps, 95% CI [{p.low:+.2f}, {p.high:+.2f}]: {word}"
        f"\ncheaper on {p.share_better:.0%} of {p.n} seeds{extra}",
        fontsize=8.5,
    )
    ax.set_xlim(bins[0], bins[-1])
    ax.set_ylabel("seeds", fontsize=8)


# ------------------------------------------------------------------------ action maps


def action_grid(
    discretizer: StateDiscretizer,
    q_values: npt.NDArray[np.float64],
    visits: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per (remaining bucket, time bucket): the modal greedy action (-1: no visited state), its
    visit-weighted share, and the visits pooled. Rows: remaining, columns: time."""
    radices = discretizer.describe()
    n_r, n_t = radices["remaining"], radices["time"]
    weights = np.zeros((n_r, n_t, len(ExecutionAction)), dtype=np.float64)
    per_state = visits.sum(axis=1)
    visited = np.flatnonzero(per_state > 0)
    pooled = np.zeros((n_r, n_t), dtype=np.int64)
    if visited.size:
        rule = QLearningConfig()
        greedy = greedy_actions(
            PolicyTable(q_values, visits, np.full(q_values.shape, np.nan)),  # not read here
            RuleParameters.from_config(rule),
            discretizer.pools(),
            visited,
        )
        for state, action in zip(visited.tolist(), greedy.tolist(), strict=True):
            key = discretizer.key_from_index(int(state))
            w = int(per_state[state])
            weights[key.remaining, key.time, action] += w
            pooled[key.remaining, key.time] += w
    total = weights.sum(axis=2)
    modal = np.where(total > 0, weights.argmax(axis=2), -1).astype(np.int64)
    share = np.divide(weights.max(axis=2), total, out=np.zeros_like(total), where=total > 0)
    return modal, share, pooled


def _bucket_ticks(ax: Axes, n_r: int, n_t: int) -> None:
    ax.set_xticks(range(n_t), [f"{100 * t / n_t:.0f}-{100 * (t + 1) / n_t:.0f}%" for t in
                               range(n_t)], rotation=45, fontsize=8)  # fmt: skip
    ax.set_yticks(range(n_r), [f"{100 * r / n_r:.0f}-{100 * (r + 1) / n_r:.0f}%" for r in
                               range(n_r)], fontsize=8)  # fmt: skip
    ax.set_xlabel("time elapsed (share of the horizon)")
    ax.set_ylabel("remaining size (share of the parent)")


def action_heatmap_figure(
    discretizer: StateDiscretizer,
    q_values: npt.NDArray[np.float64],
    visits: npt.NDArray[np.int64],
    deviations: DeviationGrid,
    *,
    title: str,
    base: str,
) -> Figure:
    """Axes 0: the greedy actions, axes 1: the deviations from the base, axes 2: the latter's
    colour bar."""
    modal, share, _pooled = action_grid(discretizer, q_values, visits)
    n_r, n_t = modal.shape
    fig, (ax, ax_dev) = plt.subplots(2, 1, figsize=(1.0 * n_t + 3.8, 1.6 * n_r + 4.4))
    cmap = ListedColormap(ACTION_COLOURS)
    masked = np.ma.masked_less(modal, 0)
    ax.imshow(masked, cmap=cmap, vmin=-0.5, vmax=len(ACTION_COLOURS) - 0.5, aspect="auto",
              origin="lower")  # fmt: skip
    labels = [a.label for a in ExecutionAction]
    for r in range(n_r):
        for t in range(n_t):
            if modal[r, t] < 0:
                ax.text(t, r, "-", ha="center", va="center", color="#888888", fontsize=8)
                continue
            dark = modal[r, t] in (3, 4)
            ax.text(t, r, f"{labels[modal[r, t]]}\n{share[r, t]:.0%}", ha="center",
                    va="center", fontsize=7, color="white" if dark else "black")  # fmt: skip
    _bucket_ticks(ax, n_r, n_t)
    visited = int((visits.sum(axis=1) > 0).sum())
    ax.set_title(
        f"Greedy action of the Q-table ({visited} visited states). Each cell pools the "
        "states with that time and size;\nthe % is the share of the cell's training visits "
        "made in states whose greedy action it is ('-': never visited)",
        fontsize=9,
    )
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in ACTION_COLOURS]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              title="greedy action", title_fontsize=8)  # fmt: skip
    _deviation_map(ax_dev, fig, deviations, (n_r, n_t), base, labels)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _deviation_map(
    ax: Axes,
    fig: Figure,
    grid: DeviationGrid,
    shape: tuple[int, int],
    base: str,
    labels: Sequence[str],
) -> None:
    n_r, n_t = shape
    share = grid.share[:n_r, :n_t]
    image = ax.imshow(np.ma.masked_invalid(share), cmap="Oranges", vmin=0.0, vmax=1.0,
                      aspect="auto", origin="lower")  # fmt: skip
    for r in range(n_r):
        for t in range(n_t):
            if not np.isfinite(share[r, t]):
                ax.text(t, r, "-", ha="center", va="center", color="#888888", fontsize=8)
                continue
            instead = grid.instead[r, t]
            text = f"{share[r, t]:.0%}"
            if instead >= 0:
                text += f"\n{labels[instead]}"
            text += f"\nn={grid.decisions[r, t]:,}"
            ax.text(t, r, text, ha="center", va="center", fontsize=7,
                    color="white" if share[r, t] > 0.6 else "black")  # fmt: skip
    _bucket_ticks(ax, n_r, n_t)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label(f"share of decisions\nwith action != {base}'s", fontsize=8)
    ax.set_title(
        f"Where the agent deviates from its base ({base}): share of its decisions whose action "
        "differs from the base\nschedule's, the action it took most often instead and the "
        f"cell's decisions n ({grid.source}, {grid.total:,} decisions; '-': none)",
        fontsize=9,
    )


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` (laid out by the function that drew it) as a PNG at ``path``; close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
