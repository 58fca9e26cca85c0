"""The learning core: state discretization, the tabular Q-learning agent, experience replay,
rewards and policy metrics. Pure: imports nothing from ``rlexec.store`` or ``rlexec.cli``."""

from rlexec.rl.metrics import (
    FALLBACK_ACTION,
    PolicyMetrics,
    compute_policy_metrics,
    greedy_actions,
)
from rlexec.rl.q_learning import PRODUCTION_EPSILON, Decision, QTableAgent
from rlexec.rl.replay_buffer import ExperienceReplayBuffer, ReplaySample
from rlexec.rl.reward import (
    Shortfall,
    TransitionReward,
    original_reward,
    shortfall_cost_bps,
    shortfall_reward,
)
from rlexec.rl.state import StateDiscretizer, StateKey
from rlexec.rl.types import (
    NUM_ACTIONS,
    ExecutionAction,
    ExecutionReward,
    ExecutionState,
    Experience,
    Urgency,
)

__all__ = [
    "FALLBACK_ACTION",
    "NUM_ACTIONS",
    "PRODUCTION_EPSILON",
    "Decision",
    "ExecutionAction",
    "ExecutionReward",
    "ExecutionState",
    "Experience",
    "ExperienceReplayBuffer",
    "PolicyMetrics",
    "QTableAgent",
    "ReplaySample",
    "Shortfall",
    "StateDiscretizer",
    "StateKey",
    "TransitionReward",
    "Urgency",
    "compute_policy_metrics",
    "greedy_actions",
    "original_reward",
    "shortfall_cost_bps",
    "shortfall_reward",
]
