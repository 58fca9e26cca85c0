"""rlexec: learn when and how much to trade while working a parent order.

Packages by concern:
- ``rlexec.rl``: the learning core (state, Q-learning agent, replay buffer, reward). Pure.
- ``rlexec.market``: market simulators (limit order book, Almgren-Chriss, recorded data). Pure.
- ``rlexec.execution``: executors (TWAP, VWAP, ...), the episode runner and cost metrics.
- ``rlexec.store``: the SQL store, Alembic migrations and the write-behind cache.
- ``rlexec.cli``: the ``rlexec`` command line.
"""

__version__ = "0.1.0"
