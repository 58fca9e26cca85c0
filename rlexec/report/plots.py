"""The report's PNG plots (matplotlib, Agg backend: no display needed).

- ``plot_learning_curve``: each agent's training episodes' IS against the episode number,
  with a rolling mean;
- ``plot_is_distribution``: IS per executor (box plots, means marked) over the paired seeds;
- ``plot_paired_differences``: histograms of ``IS(executor) - IS(reference)`` per executor
  with the mean and its 95% confidence interval;
- ``plot_action_heatmap``: the greedy action by time elapsed x remaining size, read from the
  Q-table; each cell pools the *visited* states with those two buckets (the other features
  marginalised, each state weighted by its visits) and shows the most frequent greedy action
  and its share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from rlexec.config import QLearningConfig
from rlexec.execution.metrics import EpisodeResult, paired_difference
from rlexec.rl.metrics import greedy_actions
from rlexec.rl.policy import RuleParameters
from rlexec.rl.state import StateDiscretizer
from rlexec.rl.types import ExecutionAction

DPI = 110
# matplotlib 3.10 replaced boxplot's ``vert=False`` by ``orientation="horizontal"``
_MPL = tuple(int(p) for p in matplotlib.__version__.split(".")[:2])
_HORIZONTAL: dict[str, Any] = {"orientation": "horizontal"} if _MPL >= (3, 10) else {"vert": False}
ACTION_COLOURS = ("#bdbdbd", "#c6dbef", "#6baed6", "#2171b5", "#08306b", "#e6550d")


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


def plot_learning_curve(
    curves: Mapping[str, Sequence[float]], path: Path, *, window: int = 100
) -> Path:
    """``curves``: agent name -> training episodes' IS in episode order."""
    fig, ax = plt.subplots(figsize=(9, 4.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = False
    for i, (agent, values) in enumerate(curves.items()):
        if not values:
            continue
        colour = colours[i % len(colours)]
        x = np.arange(1, len(values) + 1)
        ax.plot(x, values, ".", ms=2, alpha=0.15, color=colour)
        ax.plot(x, rolling_mean(values, window), lw=2, color=colour,
                label=f"{agent}: rolling mean ({window} episodes)")  # fmt: skip
        drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no training episodes in the store", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("training episode")
    ax.set_ylabel("implementation shortfall (bps)")
    ax.set_title("Learning curve: IS of training episodes (exploration on)")
    if drawn:
        ax.legend(loc="upper right")
        low, high = _robust_limits([v for vals in curves.values() for v in vals])
        ax.set_ylim(low, high)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_is_distribution(results: Mapping[str, Sequence[EpisodeResult]], path: Path) -> Path:
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
    return _save(fig, path)


def plot_paired_differences(
    results: Mapping[str, Sequence[EpisodeResult]], reference: str, path: Path
) -> Path:
    base = np.asarray([r.is_bps for r in results[reference]])
    others = [n for n in results if n != reference]
    cols = 2 if len(others) > 1 else 1
    rows = max(1, -(-len(others) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, others, strict=False):
        values = np.asarray([r.is_bps for r in results[name]])
        d = values - base
        p = paired_difference(values, base, reference)
        ax.hist(d, bins=40, color="#6baed6", edgecolor="white")
        ax.axvline(0.0, color="black", lw=0.8)
        ax.axvspan(p.low, p.high, color="#e6550d", alpha=0.25, label="95% CI of the mean")
        ax.axvline(p.mean, color="#e6550d", lw=2,
                   label=f"mean {p.mean:+.2f} [{p.low:+.2f}, {p.high:+.2f}]")  # fmt: skip
        ax.set_title(f"{name} - {reference} (better in {p.share_better:.0%})", fontsize=10)
        ax.set_xlabel("paired IS difference (bps), negative = cheaper")
        ax.legend(fontsize=8, loc="upper right")
    for ax in list(axes.flat)[len(others) :]:
        ax.axis("off")
    fig.suptitle(f"Paired differences against {reference} (same seeds)")
    return _save(fig, path)


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
            q_values[visited],
            visits[visited],
            np.full(q_values[visited].shape, np.nan),  # variances are not read here
            RuleParameters(rule.min_visits_to_deviate, rule.deviation_confidence, rule.alpha),
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


def plot_action_heatmap(
    discretizer: StateDiscretizer,
    q_values: npt.NDArray[np.float64],
    visits: npt.NDArray[np.int64],
    path: Path,
    *,
    title: str,
) -> Path:
    modal, share, _pooled = action_grid(discretizer, q_values, visits)
    n_r, n_t = modal.shape
    fig, ax = plt.subplots(figsize=(1.0 * n_t + 3.0, 0.8 * n_r + 2.0))
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
    ax.set_xticks(range(n_t), [f"{100 * t / n_t:.0f}-{100 * (t + 1) / n_t:.0f}%" for t in
                               range(n_t)], rotation=45, fontsize=8)  # fmt: skip
    ax.set_yticks(range(n_r), [f"{100 * r / n_r:.0f}-{100 * (r + 1) / n_r:.0f}%" for r in
                               range(n_r)], fontsize=8)  # fmt: skip
    ax.set_xlabel("time elapsed")
    ax.set_ylabel("remaining size")
    visited = int((visits.sum(axis=1) > 0).sum())
    ax.set_title(f"{title}\ngreedy action (share of visits) over {visited} visited states",
                 fontsize=10)  # fmt: skip
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in ACTION_COLOURS]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _save(fig, path)


def _robust_limits(values: Sequence[float]) -> tuple[float, float]:
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return -1.0, 1.0
    low, high = np.percentile(x, [1, 99])
    pad = 0.1 * max(high - low, 1e-6)
    return float(low - pad), float(high + pad)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
