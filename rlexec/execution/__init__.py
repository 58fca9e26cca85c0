"""Executors (TWAP, VWAP, submit-and-leave, Almgren-Chriss schedule), the episode runner and the
cost metrics. The RL executor lives in its own module and wraps a TWAP/VWAP base."""

from rlexec.execution.ac_schedule import AlmgrenChrissSchedule
from rlexec.execution.base import BaseExecutor, split_quantity
from rlexec.execution.metrics import (
    Comparison,
    EpisodeResult,
    ExecutorSummary,
    PairedDifference,
    compare,
    implementation_shortfall_bps,
    render_table,
)
from rlexec.execution.runner import EpisodeDriver, run_episode
from rlexec.execution.submit_and_leave import SubmitAndLeave
from rlexec.execution.twap import TWAP, Schedule, ScheduledExecutor, Style
from rlexec.execution.vwap import VWAP, VolumeProfile

__all__ = [
    "TWAP",
    "VWAP",
    "AlmgrenChrissSchedule",
    "BaseExecutor",
    "Comparison",
    "EpisodeDriver",
    "EpisodeResult",
    "ExecutorSummary",
    "PairedDifference",
    "Schedule",
    "ScheduledExecutor",
    "Style",
    "SubmitAndLeave",
    "VolumeProfile",
    "compare",
    "implementation_shortfall_bps",
    "render_table",
    "run_episode",
    "split_quantity",
]
