"""The verdict a desk needs first: each agent against its own base and against the best
baseline of the market, in numbers and in words.

- ``compare_sentence``: one paired difference ``IS(subject) - IS(yardstick)`` as a sentence
  (``rlexec.report.words``: "... is 0.01 bps better than its base (passive TWAP); the
  difference is not significant (95% CI -0.20 to +0.23)."). Better = cheaper = a lower
  implementation shortfall; significant = the 95% interval of the mean paired difference
  excludes 0 (``PairedDifference.significant``).
- ``comparison_verdict``: per agent of a ``ComparisonRun``, the paired differences against
  its base and against the best baseline (``rlexec.execution.yardsticks.best_baseline`` over
  the run's baselines); and for the market, how clear the best baseline is and the per-seed
  oracle of the baselines (the room a state-reading policy has).
- ``Verdict.blocks``: the verdict as Markdown-free text lines, a block per agent and one for
  the market (the summary and the command line both print them; ``print_verdict``).

The statistics are those of the comparison code (``paired_difference``, ``best_baseline``,
``per_seed_oracle``); this module only chooses the yardsticks and words them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rlexec.errors import InvalidInputError
from rlexec.execution.metrics import PairedDifference, paired_difference
from rlexec.execution.yardsticks import (
    BestBaseline,
    PerSeedOracle,
    best_baseline,
    paired_is,
    per_seed_oracle,
    room_to_oracle,
)
from rlexec.report.words import bps, difference_sentence, interval_text
from rlexec.training.evaluate import ComparisonRun, executor_label


def compare_sentence(subject: str, p: PairedDifference, yardstick: str) -> str:
    """``IS(subject) - IS(yardstick)`` (``p``) in words; see the module doc."""
    return difference_sentence(
        subject,
        yardstick,
        mean=p.mean,
        low=p.low,
        high=p.high,
        significant=p.significant,
        units="bps",
        sample=f"{p.n} paired seeds",
        identical=p.standard_error == 0.0 and p.mean == 0.0,
    )


@dataclass(frozen=True, slots=True)
class Yardstick:
    """An agent paired against one executor of the comparison."""

    executor: str
    mean_bps: float  # the yardstick's mean IS
    difference: PairedDifference  # IS(agent) - IS(yardstick), paired on the seeds


@dataclass(frozen=True, slots=True)
class AgentVerdict:
    agent: str
    executor: str  # rl:<agent>
    mean_bps: float
    base: Yardstick
    best: Yardstick  # the best baseline (may be the base itself)

    @property
    def beats_best(self) -> bool:
        """Cheaper than the best baseline with a 95% interval that excludes 0."""
        return self.best.difference.significant and self.best.difference.mean < 0

    def lines(self) -> tuple[str, ...]:
        """A heading line and the sentences (plain text)."""
        base_label = executor_label(self.base.executor)
        best_label = executor_label(self.best.executor)
        lines = [
            f"Agent {self.agent!r} ({self.executor}): mean IS {bps(self.mean_bps)} bps over "
            f"{self.base.difference.n} paired held-out seeds.",
            compare_sentence(
                "The agent",
                self.base.difference,
                f"its base ({base_label}, {bps(self.base.mean_bps)} bps)",
            ),
        ]
        if self.best.executor == self.base.executor:
            lines.append(f"Its base is also the best baseline of this market ({base_label}).")
        else:
            lines.append(
                compare_sentence(
                    "It",
                    self.best.difference,
                    f"the best baseline of this market ({best_label}, "
                    f"{bps(self.best.mean_bps)} bps)",
                )
            )
        if self.beats_best:
            lines.append(
                "On these held-out seeds the agent beats the best baseline significantly "
                "(whether it runs in production is decided on validation seeds)."
            )
        else:
            lines.append(
                f"On these held-out seeds the agent does not beat the best baseline "
                f"({best_label}) significantly: it has not earned its place over that simple "
                "strategy."
            )
        return tuple(lines)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Every agent's verdict and the market's yardsticks (over the baselines only)."""

    agents: tuple[AgentVerdict, ...]
    best: BestBaseline
    oracle: PerSeedOracle

    def market_lines(self) -> tuple[str, ...]:
        """The best baseline, how clear it is, and the per-seed oracle (plain text)."""
        b = self.best
        label = executor_label(b.name)
        lines = [f"The baselines of this market over {b.n} paired held-out seeds:"]
        head = f"The best baseline is {label} (`{b.name}`, {bps(b.mean_bps)} bps)"
        if b.vs_runner_up is None or b.runner_up is None:
            lines.append(f"{head}, the only one compared.")
        else:
            clear = "clearly" if b.clear else "not clearly"
            runner_up = executor_label(b.runner_up)
            if b.runner_up_mean_bps is not None:
                runner_up += f" ({bps(b.runner_up_mean_bps)} bps)"
            lines.append(
                f"{head}, {clear} ahead of the runner-up, {runner_up}: the difference is "
                f"{bps(b.vs_runner_up.mean, sign=True)} bps "
                f"({interval_text(b.vs_runner_up.low, b.vs_runner_up.high)})."
            )
        lines.append(
            f"A per-seed oracle that picks the cheapest baseline on every path would cost "
            f"{bps(self.oracle.mean_bps)} bps, {bps(room_to_oracle(b, self.oracle))} bps below "
            "the best baseline: the most that reading the state could gain here."
        )
        return tuple(lines)

    def blocks(self) -> tuple[tuple[str, ...], ...]:
        """One block per agent, then the market's: each a heading line and sentences."""
        if not self.agents:
            return (("No agent was compared: only the baselines ran.",), self.market_lines())
        return (*(a.lines() for a in self.agents), self.market_lines())


def comparison_verdict(run: ComparisonRun, base: str) -> Verdict:
    """The verdict of ``run``: its agents (possibly none) against ``base`` (the agents' base
    executor, which must be among the run's results when there are agents) and against the
    best of the run's baselines."""
    if run.agents and base not in run.results:
        raise InvalidInputError(
            f"the comparison has no results for the agents' base {base!r}: run "
            "'rlexec compare' again with the same [rl_execution.executor] base and style"
        )
    _, values = paired_is(run.results)
    baselines = run.baseline_results
    best = best_baseline(baselines)
    agents = []
    for executor, agent in run.agents.items():
        own = values[executor]
        agents.append(
            AgentVerdict(
                agent=agent,
                executor=executor,
                mean_bps=float(own.mean()),
                base=Yardstick(
                    base, float(values[base].mean()), paired_difference(own, values[base], base)
                ),
                best=Yardstick(
                    best.name,
                    best.mean_bps,
                    paired_difference(own, values[best.name], best.name),
                ),
            )
        )
    return Verdict(tuple(agents), best, per_seed_oracle(baselines))


def print_verdict(blocks: Sequence[Sequence[str]]) -> None:
    """The verdict on stdout: per agent its heading line, then the sentences indented."""
    for head, *sentences in blocks:
        print(head)
        for line in sentences:
            print(f"  {line}")
    if blocks:
        print()
