"""The verdict: each agent against its own base and the best baseline, in numbers and words
(synthetic paired results, so that every figure is known)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from rlexec.errors import InvalidInputError
from rlexec.execution.metrics import EpisodeResult, paired_difference
from rlexec.market.book import Side
from rlexec.report.verdict import compare_sentence, comparison_verdict
from rlexec.report.words import bps
from rlexec.training.evaluate import ComparisonRun

N = 50
SEEDS = list(range(1000, 1000 + N))


def results(name: str, values: np.ndarray) -> tuple[EpisodeResult, ...]:
    return tuple(
        EpisodeResult(
            executor=name,
            seed=seed,
            side=Side.BUY,
            quantity=Decimal(100),
            arrival_mid=Decimal(100),
            is_bps=float(v),
            filled_quantity=Decimal(100),
            fill_rate=1.0,
            placed_fill_rate=1.0,
            child_orders=3,
            avg_fill_price=Decimal(100),
            completion_quantity=Decimal(0),
            completion_cost_bps=0.0,
            steps=10,
        )
        for seed, v in zip(SEEDS, values, strict=True)
    )


def comparison(**values: np.ndarray) -> ComparisonRun:
    """Executors named by keyword (``rl_default`` becomes agent ``default``)."""
    res = {}
    agents = {}
    for key, v in values.items():
        name = key.replace("rl_", "rl:", 1)
        res[name] = results(name, v)
        if name.startswith("rl:"):
            agents[name] = name[3:]
    return ComparisonRun(
        market="equity",
        seeds=SEEDS,
        results=res,
        agents=agents,
        reward_modes={a: "shortfall" for a in agents.values()},
        reference="twap_passive",
        base="twap_passive",
    )


def market(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(1.2, 2.0, N)
    return {
        "twap": base + 1.5 + rng.normal(0, 0.3, N),
        "twap_passive": base,
        "submit_and_leave": base - 0.6 + rng.normal(0, 0.2, N),
    }


def test_the_agent_against_its_base_and_the_best_baseline_in_words() -> None:
    m = market()
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 1.0, N)
    agent = m["twap_passive"] + noise - noise.mean() + 0.05  # 0.05 bps worse: within noise
    run = comparison(**m, rl_default=agent)
    verdict = comparison_verdict(run, "twap_passive")
    (only,) = verdict.agents
    vs_base = paired_difference(agent, m["twap_passive"], "twap_passive")
    vs_best = paired_difference(agent, m["submit_and_leave"], "submit_and_leave")
    assert only.base.difference == vs_base and only.best.difference == vs_best
    assert not vs_base.significant and vs_best.significant and vs_best.mean > 0

    head, on_base, on_best, earned = only.lines()
    assert head.startswith(f"Agent 'default' (rl:default): mean IS {bps(float(agent.mean()))}")
    assert on_base == (
        f"The agent is 0.05 bps worse than its base (passive TWAP, "
        f"{bps(float(m['twap_passive'].mean()))} bps); the difference is not significant "
        f"(95% CI {vs_base.low:+.2f} to {vs_base.high:+.2f}, {N} paired seeds)."
    )
    assert on_best == (
        f"It is {bps(vs_best.mean)} bps worse than the best baseline of this market "
        f"(submit-and-leave, {bps(float(m['submit_and_leave'].mean()))} bps); the difference "
        f"is significant (95% CI {vs_best.low:+.2f} to {vs_best.high:+.2f}, {N} paired seeds)."
    )
    assert "does not beat the best baseline (submit-and-leave) significantly" in earned


def test_an_agent_that_beats_the_best_baseline_is_said_to() -> None:
    m = market()
    run = comparison(**m, rl_default=m["submit_and_leave"] - 0.5)
    (only,) = comparison_verdict(run, "twap_passive").agents
    assert only.beats_best
    assert "beats the best baseline significantly" in only.lines()[-1]
    assert "significant (95% CI -0.50 to -0.50" in only.lines()[2]


def test_an_agent_equal_to_its_base_and_a_base_that_is_the_best() -> None:
    m = market()
    m["submit_and_leave"] = m["twap_passive"] + 0.4
    run = comparison(**m, rl_default=m["twap_passive"].copy())
    (only,) = comparison_verdict(run, "twap_passive").agents
    lines = only.lines()
    assert lines[1] == (
        f"The agent has exactly the same cost as its base (passive TWAP, "
        f"{bps(float(m['twap_passive'].mean()))} bps) on all {N} paired seeds."
    )
    assert lines[2] == "Its base is also the best baseline of this market (passive TWAP)."


def test_the_market_block_names_the_best_baseline_and_the_oracle() -> None:
    m = market()
    run = comparison(**m, rl_default=m["twap_passive"])
    verdict = comparison_verdict(run, "twap_passive")
    head, best, oracle = verdict.market_lines()
    assert head == f"The baselines of this market over {N} paired held-out seeds:"
    assert best.startswith("The best baseline is submit-and-leave (`submit_and_leave`")
    assert "clearly ahead of the runner-up, passive TWAP (" in best
    runner_up = float(np.mean(m["twap_passive"]))
    assert f"passive TWAP ({bps(runner_up)} bps): the difference is -" in best  # not its IS
    per_seed = np.minimum.reduce([m["twap"], m["twap_passive"], m["submit_and_leave"]]).mean()
    assert f"would cost {bps(float(per_seed))} bps" in oracle
    # the agents are not among the baselines the best and the oracle are taken over
    assert verdict.blocks()[-1] == verdict.market_lines()


def test_no_agent_still_gives_the_market_block() -> None:
    run = comparison(**market())
    blocks = comparison_verdict(run, "twap_passive").blocks()
    assert blocks[0] == ("No agent was compared: only the baselines ran.",)
    assert blocks[1][1].startswith("The best baseline is submit-and-leave")


def test_a_comparison_without_the_agents_base_is_a_one_line_error() -> None:
    m = market()
    run = comparison(**m, rl_default=m["twap_passive"])
    with pytest.raises(InvalidInputError, match="no results for the agents' base 'vwap_passive'"):
        comparison_verdict(run, "vwap_passive")


def test_small_differences_keep_their_digits() -> None:
    assert bps(0.004) == "0.004" and bps(-0.004, sign=True) == "-0.004"
    assert bps(0.013) == "0.01" and bps(1.5, sign=True) == "+1.50" and bps(0.0) == "0.00"
    p = paired_difference([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "b")
    same = "A has exactly the same cost as B on all 3 paired seeds."
    assert compare_sentence("A", p, "B") == same
