"""QTableAgent: the update rule, epsilon schedule, modes, decisions, replay, dirty tracking."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rlexec.config import AgentMode, QLearningConfig, ReplayBufferConfig, StateConfig
from rlexec.errors import InvalidInputError
from rlexec.rl import (
    FALLBACK_ACTION,
    ExecutionAction,
    ExecutionReward,
    ExecutionState,
    QTableAgent,
    Urgency,
)

A = ExecutionAction


def make_agent(
    *,
    alpha: float = 0.5,
    gamma: float = 0.9,
    epsilon: float = 0.3,
    epsilon_min: float = 0.05,
    epsilon_decay: float = 0.995,
    mode: AgentMode = AgentMode.TRAINING,
    seed: int = 0,
    replay: ReplayBufferConfig | None = None,
) -> QTableAgent:
    return QTableAgent(
        QLearningConfig(
            alpha=alpha,
            gamma=gamma,
            epsilon=epsilon,
            epsilon_min=epsilon_min,
            epsilon_decay=epsilon_decay,
        ),
        StateConfig(),
        mode=mode,
        seed=seed,
        replay_config=replay,
    )


def with_rows(agent: QTableAgent, rows: dict[int, list[float]]) -> None:
    q = agent.q_values.copy()
    visits = agent.visits.copy()
    for s, row in rows.items():
        q[s] = row
        visits[s] = 1
    agent.restore(q, visits, agent.epsilon, agent.updates)


def state(**overrides: object) -> ExecutionState:
    fields: dict[str, object] = dict(
        remaining_size=0.6,
        time_elapsed_pct=0.3,
        urgency=Urgency.NORMAL,
        bid_ask_spread=0.02,
        orderbook_imbalance=0.1,
        recent_volatility=0.01,
        queue_depth_at_price=500.0,
        hour_of_day=10,
        minute_of_hour=30,
        seconds_since_last_trade=2.0,
        recent_fill_rate=0.5,
        avg_slippage_last_n=1.5,
    )
    fields.update(overrides)
    return ExecutionState(**fields)  # type: ignore[arg-type]


# -- the update rule -------------------------------------------------------------------------


def test_non_terminal_update_matches_hand_computation_without_clamping() -> None:
    agent = make_agent(alpha=0.5, gamma=0.9)
    with_rows(agent, {0: [0, 2.0, 0, 0, 0, 0], 2: [-3.0, -1.0, -2.0, -4.0, -5.0, -6.0]})
    new_q = agent.update_index(0, 1, 1.0, 2, False)
    # target = 1 + 0.9 * max(-3, -1, ...) = 0.1 (a clamped max would give 1.0)
    assert new_q == pytest.approx(2.0 + 0.5 * (0.1 - 2.0))
    assert agent.q_values[0, 1] == pytest.approx(1.05)
    assert agent.visits[0, 1] == 2  # 1 from with_rows, 1 from the update
    assert agent.updates == 1


def test_terminal_update_does_not_bootstrap() -> None:
    agent = make_agent(alpha=0.5, gamma=0.9)
    with_rows(agent, {3: [1.0, 0, 0, 0, 0, 0], 4: [10.0] * 6})
    new_q = agent.update_index(3, 0, -2.0, 4, True)
    assert new_q == pytest.approx(1.0 + 0.5 * (-2.0 - 1.0))


def test_truncated_transition_bootstraps() -> None:
    agent = make_agent(alpha=1.0, gamma=0.5)
    with_rows(agent, {4: [0, 0, 8.0, 0, 0, 0]})
    new_q = agent.observe(3, 0, 1.0, 4, terminated=False, truncated=True)
    assert new_q == pytest.approx(1.0 + 0.5 * 8.0)


def test_sequence_of_updates_from_zero() -> None:
    agent = make_agent(alpha=0.1, gamma=0.99)
    agent.update_index(7, 2, -1.0, 8, False)
    agent.update_index(7, 2, -1.0, 8, False)
    # -0.1, then -0.1 + 0.1 * (-1 - (-0.1)) = -0.19
    assert agent.q_values[7, 2] == pytest.approx(-0.19)
    assert agent.visits[7, 2] == 2


async def test_async_update_accepts_an_execution_reward() -> None:
    agent = make_agent(alpha=1.0, gamma=0.0)
    s, s2 = state(), state(time_elapsed_pct=0.5)
    reward = ExecutionReward(5.0, 1.0, 0.5, 0.25)
    new_q = await agent.update(s, A.PLACE_MEDIUM, reward, s2)
    index = agent.discretizer.state_index(s)
    assert new_q == pytest.approx(3.25)
    assert agent.q_values[index, A.PLACE_MEDIUM] == pytest.approx(3.25)


def test_bad_transitions_are_rejected() -> None:
    agent = make_agent()
    n = agent.num_states
    with pytest.raises(InvalidInputError, match="transition"):
        agent.update_index(n, 0, 0.0, 0, False)
    with pytest.raises(InvalidInputError, match="transition"):
        agent.update_index(0, 6, 0.0, 0, False)
    with pytest.raises(InvalidInputError, match="transition"):
        agent.update_index(0, 0, 0.0, -1, False)
    with pytest.raises(InvalidInputError, match="reward"):
        agent.update_index(0, 0, float("nan"), 1, False)
    with pytest.raises(InvalidInputError, match="reward"):
        agent.update_index(0, 0, float("inf"), 1, False)
    assert agent.updates == 0


# -- epsilon schedule and modes --------------------------------------------------------------


def test_epsilon_decays_per_online_update_down_to_the_floor() -> None:
    agent = make_agent(epsilon=0.3, epsilon_min=0.05, epsilon_decay=0.9)
    agent.update_index(0, 0, 0.0, 1, False)
    assert agent.epsilon == pytest.approx(0.27)
    agent.update_index(0, 0, 0.0, 1, False)
    assert agent.epsilon == pytest.approx(0.243)
    for _ in range(100):
        agent.update_index(0, 0, 0.0, 1, False)
    assert agent.epsilon == 0.05


def test_set_epsilon_validates_and_applies() -> None:
    agent = make_agent()
    agent.set_epsilon(0.5)
    assert agent.epsilon == 0.5
    for bad in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(InvalidInputError, match="epsilon"):
            agent.set_epsilon(bad)  # type: ignore[arg-type]


def test_production_mode_explores_at_five_percent_and_learns_without_decay() -> None:
    agent = make_agent(mode=AgentMode.PRODUCTION, epsilon_min=0.01)
    assert agent.epsilon == 0.05
    agent.update_index(0, 0, 1.0, 1, True)
    assert agent.q_values[0, 0] != 0.0
    assert agent.epsilon == 0.05
    assert agent.learning


def test_evaluation_mode_is_greedy_and_never_learns() -> None:
    agent = make_agent(mode=AgentMode.EVALUATION, replay=ReplayBufferConfig(batch_size=1))
    with_rows(agent, {0: [0, 0, 0, 1.0, 0, 0]})
    before = agent.q_values.copy()
    assert agent.update_index(0, 0, 100.0, 1, True) == 0.0
    assert agent.observe(0, 0, 100.0, 1, True) == 0.0
    assert agent.replay() == 0
    np.testing.assert_array_equal(agent.q_values, before)
    assert agent.updates == 0
    assert agent.replay_buffer is not None and len(agent.replay_buffer) == 0
    assert agent.drain_dirty().size == 0
    decisions = [agent.decide_index(0) for _ in range(200)]
    assert {d.action for d in decisions} == {A.PLACE_LARGE}
    assert all(d.probability == 1.0 and not d.explored for d in decisions)


def test_switching_modes_resumes_the_training_schedule() -> None:
    agent = make_agent(epsilon=0.3, epsilon_decay=0.5, epsilon_min=0.01)
    agent.update_index(0, 0, 0.0, 1, False)
    assert agent.epsilon == pytest.approx(0.15)
    agent.set_mode(AgentMode.EVALUATION)
    assert agent.epsilon == 0.0 and not agent.learning
    agent.set_mode(AgentMode.PRODUCTION)
    assert agent.epsilon == 0.05
    agent.set_mode(AgentMode.TRAINING)
    assert agent.epsilon == pytest.approx(0.15)


# -- decisions -------------------------------------------------------------------------------


def test_never_visited_state_follows_the_default_action_or_the_fallback() -> None:
    agent = make_agent(mode=AgentMode.EVALUATION)
    assert agent.decide_index(5).action == FALLBACK_ACTION == A.PLACE_SMALL
    assert agent.decide_index(5, default_action=A.PLACE_MEDIUM).action == A.PLACE_MEDIUM
    assert agent.greedy_index(5, A.WAIT) == A.WAIT


def test_ties_break_toward_the_fallback_else_the_lowest_index() -> None:
    agent = make_agent(mode=AgentMode.EVALUATION)
    with_rows(agent, {1: [0, 2.0, 0, 2.0, 0, 0], 2: [0, 0, 3.0, 0, 3.0, 0]})
    assert agent.decide_index(1).action == A.PLACE_SMALL  # fallback among the maxima
    assert agent.decide_index(1, default_action=A.PLACE_LARGE).action == A.PLACE_LARGE
    assert agent.decide_index(1, default_action=A.WAIT).action == A.PLACE_SMALL  # lowest
    assert agent.decide_index(2).action == A.PLACE_MEDIUM
    assert agent.decide_index(2, default_action=A.PLACE_ALL).action == A.PLACE_ALL


def test_a_unique_best_action_beats_the_default() -> None:
    agent = make_agent(mode=AgentMode.EVALUATION)
    with_rows(agent, {3: [-1.0, -2.0, -0.5, -3.0, -9.0, -1.0]})
    decision = agent.decide_index(3, default_action=A.PLACE_SMALL)
    assert decision.action == A.PLACE_MEDIUM
    assert decision.q_values == (-1.0, -2.0, -0.5, -3.0, -9.0, -1.0)
    assert decision.state_index == 3


def test_probabilities_and_exploration_rate_match_epsilon_greedy() -> None:
    agent = make_agent(epsilon=0.3, epsilon_decay=1.0, seed=11)
    with_rows(agent, {0: [0, 0, 0, 0, 1.0, 0]})
    decisions = [agent.decide_index(0) for _ in range(20_000)]
    for d in decisions:
        expected = 0.05 + 0.7 if d.action == A.PLACE_ALL else 0.05
        assert d.probability == pytest.approx(expected)
        assert d.greedy_action == A.PLACE_ALL
        assert d.epsilon == 0.3
        if not d.explored:
            assert d.action == A.PLACE_ALL
    explored = [d.action for d in decisions if d.explored]
    assert abs(len(explored) / len(decisions) - 0.3) < 0.02
    counts = np.bincount([int(a) for a in explored], minlength=6) / len(explored)
    assert np.abs(counts - 1 / 6).max() < 0.02
    # the empirical frequency of the greedy action matches its logged probability
    greedy_share = sum(d.action == A.PLACE_ALL for d in decisions) / len(decisions)
    assert abs(greedy_share - 0.75) < 0.02


def test_same_seed_same_decisions_and_different_seed_different() -> None:
    def run(seed: int) -> list[int]:
        agent = make_agent(seed=seed, epsilon=0.5, epsilon_decay=1.0)
        return [int(agent.decide_index(i % 50).action) for i in range(10_000)]

    assert run(3) == run(3)
    assert run(3) != run(4)


async def test_async_faces_use_the_discretized_state() -> None:
    agent = make_agent(mode=AgentMode.EVALUATION)
    s = state()
    index = agent.discretizer.state_index(s)
    with_rows(agent, {index: [0, 0, 0, 0, 0, 4.0]})
    assert await agent.select_action(s) == A.CANCEL
    assert await agent.best_action(s) == A.CANCEL
    decision = await agent.decide(s)
    assert decision.state_index == index and decision.action == A.CANCEL


def test_decision_inputs_are_validated() -> None:
    agent = make_agent()
    with pytest.raises(InvalidInputError, match="state_index"):
        agent.decide_index(agent.num_states)
    with pytest.raises(InvalidInputError, match="state_index"):
        agent.decide_index(-1)
    with pytest.raises(InvalidInputError, match="default_action"):
        agent.decide_index(0, default_action=6)


# -- replay ----------------------------------------------------------------------------------


def test_observe_replays_a_batch_every_update_frequency_without_counting_visits() -> None:
    replay = ReplayBufferConfig(capacity=100, batch_size=4, update_frequency=5)
    agent = make_agent(alpha=0.5, gamma=0.0, replay=replay, epsilon_decay=0.5, epsilon_min=0.0)
    for _ in range(4):
        agent.observe(0, 0, 1.0, 1, True)
    q_before = agent.q_values[0, 0]
    assert q_before == pytest.approx(1 - 0.5**4)
    agent.observe(0, 0, 1.0, 1, True)  # 5th observation: online update + a batch of 4
    assert agent.q_values[0, 0] == pytest.approx(1 - 0.5**9)
    assert agent.visits[0, 0] == 5
    assert agent.updates == 5
    assert agent.epsilon == pytest.approx(0.3 * 0.5**5)
    assert agent.replay_buffer is not None and len(agent.replay_buffer) == 5


def test_replay_waits_for_a_full_batch() -> None:
    agent = make_agent(replay=ReplayBufferConfig(capacity=10, batch_size=8, update_frequency=1))
    agent.observe(0, 0, 1.0, 1, True)
    assert agent.replay() == 0
    assert make_agent().replay() == 0  # no buffer configured


# -- dirty tracking, restore, metrics --------------------------------------------------------


def test_dirty_tracking_coalesces_and_drains() -> None:
    agent = make_agent()
    for _ in range(3):
        agent.update_index(10, 2, 1.0, 11, False)
    agent.update_index(1, 5, 1.0, 2, False)
    agent.update_index(10, 2, 1.0, 11, False)
    dirty = agent.drain_dirty()
    assert dirty.dtype == np.int64
    assert dirty.tolist() == [1 * 6 + 5, 10 * 6 + 2]
    assert agent.drain_dirty().size == 0
    agent.update_index(0, 0, 1.0, 1, False)
    assert agent.drain_dirty().tolist() == [0]


def test_replay_updates_are_marked_dirty() -> None:
    agent = make_agent(replay=ReplayBufferConfig(capacity=10, batch_size=2, update_frequency=100))
    agent.observe(4, 1, 1.0, 5, True)
    agent.observe(6, 3, 1.0, 7, True)
    agent.drain_dirty()
    assert agent.replay() == 2
    assert agent.drain_dirty().tolist() == [4 * 6 + 1, 6 * 6 + 3]


def test_restore_replaces_the_table_and_validates_shapes() -> None:
    agent = make_agent()
    agent.update_index(0, 0, 1.0, 1, False)
    q = np.full(agent.q_values.shape, 0.5)
    visits = np.ones(agent.visits.shape, dtype=np.int64)
    agent.restore(q, visits, 0.2, 42)
    np.testing.assert_array_equal(agent.q_values, q)
    np.testing.assert_array_equal(agent.visits, visits)
    assert agent.epsilon == 0.2 and agent.updates == 42
    assert agent.drain_dirty().size == 0
    with pytest.raises(InvalidInputError, match="q_values of shape"):
        agent.restore(q[:-1], visits, 0.2, 0)
    with pytest.raises(InvalidInputError, match="visits of shape"):
        agent.restore(q, visits[:, :5], 0.2, 0)
    bad = q.copy()
    bad[3, 3] = np.nan
    with pytest.raises(InvalidInputError, match="finite"):
        agent.restore(bad, visits, 0.2, 0)
    with pytest.raises(InvalidInputError, match="visits"):
        agent.restore(q, -visits, 0.2, 0)
    with pytest.raises(InvalidInputError, match="epsilon"):
        agent.restore(q, visits, 2.0, 0)
    with pytest.raises(InvalidInputError, match="updates"):
        agent.restore(q, visits, 0.2, -1)


def test_in_place_writes_to_the_numpy_views_reach_decisions() -> None:
    agent = make_agent(mode=AgentMode.EVALUATION)
    agent.q_values.reshape(-1)[np.array([9 * 6 + 4])] += 3.0  # how the store merges deltas
    agent.visits.reshape(-1)[9 * 6 + 4] += 2
    assert agent.decide_index(9).action == A.PLACE_ALL
    agent.q_values = np.zeros(agent.q_values.shape)
    assert agent.decide_index(9).action == A.PLACE_SMALL
    assert agent.visits[9, 4] == 2


def test_restore_keeps_the_mode_epsilon_outside_training() -> None:
    agent = make_agent(mode=AgentMode.PRODUCTION)
    agent.restore(agent.q_values.copy(), agent.visits.copy(), 0.2, 0)
    assert agent.epsilon == 0.05
    agent.set_mode(AgentMode.TRAINING)
    assert agent.epsilon == 0.2


def test_policy_metrics_summarise_visited_states() -> None:
    agent = make_agent(mode=AgentMode.EVALUATION)
    q = np.zeros(agent.q_values.shape)
    visits = np.zeros(agent.visits.shape, dtype=np.int64)
    q[0] = [1.0, 2.0, 0, 0, 0, 0]
    visits[0, :2] = 1
    q[1] = [0, 0, 0, 0, 0, -3.0]
    visits[1, 5] = 4
    agent.restore(q, visits, 0.3, 5)
    metrics = agent.policy_metrics()
    assert metrics.num_states_visited == 2
    assert metrics.avg_q_value == pytest.approx((1.0 + 2.0 - 3.0) / 3)
    assert metrics.action_distribution["PlaceSmall"] == 1.0  # state 0 best; state 1 tie -> fallback
    assert sum(metrics.action_distribution.values()) == pytest.approx(1.0)
    assert metrics.epsilon == 0.0  # evaluation mode
    assert metrics.estimated_improvement is None


def test_concurrent_threads_lose_no_updates() -> None:
    agent = make_agent(alpha=0.01, epsilon_decay=1.0)
    per_thread = 5_000

    def work() -> None:
        for _ in range(per_thread):
            agent.update_index(0, 0, 1.0, 1, False)
            agent.decide_index(0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert agent.visits[0, 0] == 4 * per_thread
    assert agent.updates == 4 * per_thread
    assert agent.q_values[0, 0] == pytest.approx(1 - 0.99 ** (4 * per_thread))
