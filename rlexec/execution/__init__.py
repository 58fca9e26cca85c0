"""Executors (TWAP, VWAP, submit-and-leave, participation, the imbalance rule, Almgren-Chriss
schedule), the episode runner, the cost metrics and the yardsticks a learner is judged against
(the best baseline of a market, the per-seed oracle). The RL executor lives in its own module and
wraps a TWAP/VWAP base."""

from rlexec.execution.ac_schedule import AlmgrenChrissSchedule
from rlexec.execution.base import BaseExecutor, split_quantity
from rlexec.execution.imbalance import ImbalanceRule
from rlexec.execution.metrics import (
    Comparison,
    EpisodeResult,
    ExecutorSummary,
    PairedDifference,
    compare,
    implementation_shortfall_bps,
    render_table,
)
from rlexec.execution.participation import Participation
from rlexec.execution.runner import EpisodeDriver, EpisodeLoop, run_episode
from rlexec.execution.submit_and_leave import SubmitAndLeave
from rlexec.execution.twap import TWAP, Schedule, ScheduledExecutor, Style
from rlexec.execution.vwap import VWAP, VolumeProfile
from rlexec.execution.yardsticks import (
    BestBaseline,
    PerSeedOracle,
    best_baseline,
    per_seed_oracle,
    room_to_oracle,
)

__all__ = [
    "TWAP",
    "VWAP",
    "AlmgrenChrissSchedule",
    "BaseExecutor",
    "BestBaseline",
    "Comparison",
    "EpisodeDriver",
    "EpisodeLoop",
    "EpisodeResult",
    "ExecutorSummary",
    "ImbalanceRule",
    "PairedDifference",
    "Participation",
    "PerSeedOracle",
    "Schedule",
    "ScheduledExecutor",
    "Style",
    "SubmitAndLeave",
    "VolumeProfile",
    "best_baseline",
    "compare",
    "implementation_shortfall_bps",
    "per_seed_oracle",
    "render_table",
    "room_to_oracle",
    "run_episode",
    "split_quantity",
]
