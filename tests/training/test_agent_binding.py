"""An agent keeps the state config, reward mode and simulated problem (market and parent orders)
it was created with: training it on another market or parent, or with another reward mode, is
refused before anything is learned; evaluating it on another market or parent is refused unless
forced (then a warning says so)."""

from __future__ import annotations

import logging

import pytest

from rlexec.agent import Binding, BindingError
from rlexec.config import StateConfig
from rlexec.training.evaluate import evaluate_agent
from rlexec.training.train import train
from tests.training.conftest import small_config


async def test_training_and_evaluation_keep_the_agents_binding(
    any_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    equity = small_config(any_db_url)
    await train(equity, "bound", episodes=2, progress=False, handle_signals=False)

    other = small_config(any_db_url, market="prediction_market")
    with pytest.raises(BindingError, match="trained on market 'equity'") as info:
        await train(other, "bound", episodes=1, progress=False, handle_signals=False)
    assert "\n" not in str(info.value)
    with pytest.raises(BindingError, match="reward mode 'shortfall', not 'original'"):
        await train(equity, "bound", episodes=1, reward_mode="original", progress=False,
                    handle_signals=False)  # fmt: skip
    with pytest.raises(BindingError, match="--force"):
        await evaluate_agent(other, "bound", seeds=2, store=False)

    with caplog.at_level(logging.WARNING, logger="rlexec"):
        forced = await evaluate_agent(other, "bound", seeds=2, store=False, force=True)
    assert len(forced.agent) == 2
    assert any("going on as asked" in r.getMessage() for r in caplog.records)
    again = await train(equity, "bound", episodes=1, progress=False, handle_signals=False)
    assert again.episodes == 1  # the agent itself is unharmed


@pytest.mark.parametrize(
    ("key", "value"),
    [("parent_quantity", 600), ("horizon_steps", 80), ("side", "sell"), ("lob", {"mo_rate": 0.5})],
)
async def test_an_agent_is_not_scored_on_other_parent_orders_unless_forced(
    sqlite_url: str, caplog: pytest.LogCaptureFixture, key: str, value: object
) -> None:
    trained = small_config(sqlite_url)
    await train(trained, "sized", episodes=2, progress=False, handle_signals=False)
    other = small_config(sqlite_url, **{key: value})
    with pytest.raises(BindingError) as info:
        await evaluate_agent(other, "sized", seeds=2, store=False)
    line = str(info.value)
    expected = trained.rl_execution.simulator.model_dump()[key]
    assert f"was trained with simulator.{key} = {expected!r}, this config has {value!r}" in line
    assert "--force" in line and "\n" not in line
    with pytest.raises(BindingError, match=f"simulator.{key}"):
        await train(other, "sized", episodes=1, progress=False, handle_signals=False)
    with caplog.at_level(logging.WARNING, logger="rlexec"):
        forced = await evaluate_agent(other, "sized", seeds=2, store=False, force=True)
    assert len(forced.agent) == 2
    assert any(f"simulator.{key}" in r.getMessage() for r in caplog.records)


def test_a_snapshot_from_before_the_parent_binding_reads_the_defaults() -> None:
    state = StateConfig().model_dump()
    binding = Binding.of_snapshot("old", {"simulator": {"market": "equity"}, "state": state})
    config = small_config("sqlite+aiosqlite:///unused.db")
    assert binding.simulator["parent_quantity"] == 2000 and binding.simulator["side"] == "buy"
    refusal = binding.refusal("old", config, reward_mode=None, check_market=True)
    assert refusal is not None and "simulator.parent_quantity = 2000" in refusal


def test_a_state_config_from_before_the_touch_part_is_refused_by_todays_default() -> None:
    state = StateConfig().model_dump()
    del state["include_touch"]  # what an older rlexec stored
    binding = Binding.of_snapshot("old", {"simulator": {"market": "equity"}, "state": state})
    assert binding.state.include_touch is False
    config = small_config("sqlite+aiosqlite:///unused.db")
    refusal = binding.refusal("old", config, reward_mode=None, check_market=False)
    assert refusal is not None
    assert "state.include_touch = False, this config has True" in refusal


async def test_the_refusal_names_every_difference_of_the_problem(sqlite_url: str) -> None:
    await train(small_config(sqlite_url), "two", episodes=1, progress=False, handle_signals=False)
    other = small_config(sqlite_url, parent_quantity=600, horizon_steps=80)
    with pytest.raises(BindingError) as info:
        await evaluate_agent(other, "two", seeds=2, store=False)
    line = str(info.value)
    assert "simulator.parent_quantity = 400, this config has 600" in line
    assert "simulator.horizon_steps = 60, this config has 80" in line and "\n" not in line
    market = small_config(sqlite_url, market="prediction_market", parent_quantity=600)
    with pytest.raises(BindingError) as info:
        await evaluate_agent(market, "two", seeds=2, store=False)
    assert "trained on market 'equity'" in str(info.value)
    assert "and with simulator.parent_quantity = 400" in str(info.value)
