"""An agent keeps the state config, reward mode and market it was created with: training it on
another market or with another reward mode is refused before anything is learned; evaluating
it on another market is refused unless forced (then a warning says so)."""

from __future__ import annotations

import logging

import pytest

from rlexec.agent import BindingError
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
