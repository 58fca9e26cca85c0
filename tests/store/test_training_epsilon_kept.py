"""A production or evaluation run under an agent's name must not overwrite the training epsilon
the store keeps: training resumes exploring where it stopped."""

from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import AgentMode, QLearningConfig, StateConfig
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.write_behind import AgentStore


def _agent(mode: AgentMode) -> QTableAgent:
    return QTableAgent(QLearningConfig(), StateConfig(), mode=mode, seed=3)


async def test_evaluation_flush_keeps_the_training_epsilon(engine: AsyncEngine) -> None:
    trainer = _agent(AgentMode.TRAINING)
    store = AgentStore(trainer, engine, agent_name="eps")
    await store.load()
    for step in range(200):  # 20 episodes of 10 transitions: epsilon decays once per episode
        trainer.update_index(step % 50, step % 6, -1.0, (step + 1) % 50, step % 10 == 9)
    trained_epsilon = trainer.epsilon
    assert trained_epsilon < 0.3
    await store.close()

    evaluator = _agent(AgentMode.EVALUATION)
    store = AgentStore(evaluator, engine, agent_name="eps")
    await store.load()
    assert evaluator.epsilon == 0.0
    await store.flush()
    await store.close()

    resumed = _agent(AgentMode.TRAINING)
    store = AgentStore(resumed, engine, agent_name="eps")
    await store.load()
    assert resumed.epsilon == trained_epsilon
    await store.close()
