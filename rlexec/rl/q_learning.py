"""Tabular Q-learning agent: epsilon-greedy decisions and the one-step Q-learning update.

Decisions use the one decision rule of ``rlexec.rl.policy``: the base schedule's action
(``default_action``, what the RL executor's base TWAP/VWAP would do now) unless another action
is better with confidence (enough visits of both and a positive lower confidence bound on the
advantage); epsilon-greedy exploration on top. An empty table therefore *is* the base.

The update of a pair ``(s, a)`` on its n-th online visit is
``Q += alpha_n * (target - Q)`` with ``alpha_n = max(1/n, alpha)``: a running mean of the
targets while n is small, an exponentially weighted one (floor ``alpha``) after, which converges
under noisy rewards where a constant 0.1 keeps following the last few samples. The same step
keeps a running variance of the targets (``variances``), from which the rule's standard errors
come; it moves at ``max(1/k, alpha)`` with ``k`` the samples since it was last unknown (a table
restored without variances, NaN, relearns them without a bias toward 0). The target is ``r``
for a terminated transition (the parent is complete), else
``r + gamma * Q(s', g')`` where ``g'`` is the rule's greedy action at ``s'`` given the base's
action there (``next_base_action``; without it, the base's value is unknown and the target
uses ``max(Q(s', .))`` over the actions the rule trusts, i.e. the max-bias-free choice falls
back to the plain maximum only over visited cells). Bootstrapping on the rule's choice, not on
the maximum of six noisy estimates, is the control of the max bias.

Modes: training (epsilon from config, multiplied by ``epsilon_decay`` at the end of every
episode, i.e. every terminated transition, down to ``epsilon_min``; a state is explored at
least at ``exploration_scale / sqrt(1 + its visits)``, capped at 1, so that rare states keep
being tried after epsilon has decayed; learns); production
(epsilon fixed at 0.05, learns); evaluation (greedy, every update is a no-op).

Replay: with a ``ReplayBufferConfig``, ``observe`` adds each transition to the replay buffer and
every ``update_frequency`` observations replays one sampled batch. A replayed transition is not a
new sample: it moves ``Q`` toward its target recomputed with today's table at the floor rate
``alpha`` (propagating values learned since), and neither counts a visit, nor updates the
variance, nor decays epsilon, nor counts in ``updates``: visits and ``updates`` count *online*
updates only, so that they mean "how often the agent acted there".

Speed and memory layout: the Q-table and visit counts live in ``array.array`` buffers that the
numpy arrays ``q_values`` and ``visits`` view (``np.frombuffer``), so both faces see the same
memory. The decision path reads a row with a slice of the array (plain Python floats, no numpy
scalar per call) and takes its uniforms from a block drawn in advance from the seeded
``numpy.random.Generator``; the same seed and the same call sequence give the same decisions.
Write to ``q_values``/``visits`` in place (the store merges other processes' deltas that way) or
through ``restore``; assigning the attributes copies into the same buffers.

Thread-safety: one agent is shared by many executors. Under asyncio every method runs to
completion without yielding, so no interleaving is possible. For threads, ``update_index``,
``observe``, ``replay``, ``restore``, ``set_mode``/``set_epsilon`` and ``drain_dirty`` hold a
lock. ``decide_index`` takes none, to stay cheap: under the GIL (CPython 3.11) reading a row is
one C call, so a decision sees a whole row even while another thread updates, and the worst a
race on the uniform cursor can do is reuse one uniform (decisions made from several threads at
once are not reproducible in any case).
"""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from rlexec.config import AgentMode, QLearningConfig, ReplayBufferConfig, StateConfig
from rlexec.errors import InvalidInputError
from rlexec.rl import policy
from rlexec.rl.metrics import FALLBACK_ACTION, PolicyMetrics, compute_policy_metrics
from rlexec.rl.replay_buffer import ExperienceReplayBuffer
from rlexec.rl.state import StateDiscretizer
from rlexec.rl.types import NUM_ACTIONS, ExecutionAction, ExecutionReward, ExecutionState

PRODUCTION_EPSILON = 0.05
UNIFORM_BLOCK = 4096
_ACTIONS = tuple(ExecutionAction)
_FALLBACK = int(FALLBACK_ACTION)
_INF = math.inf


class EpisodeStep(NamedTuple):
    """One decision of an episode for ``observe_episode``: the state, the action taken, the
    reward until the next decision, and the base's action at this decision (what the rule
    compares against when this state is bootstrapped from)."""

    state_index: int
    action: int
    reward: float
    base_action: int


class Decision(NamedTuple):
    """One epsilon-greedy decision.

    ``probability`` is the probability the policy gave ``action`` (1.0 for a greedy decision
    with epsilon 0); ``q_values`` are the six Q-values seen, in action order.
    """

    action: ExecutionAction
    explored: bool
    probability: float
    q_values: tuple[float, ...]
    greedy_action: ExecutionAction
    epsilon: float
    state_index: int
    stretch: int = 0  # decisions after this one that repeat its explored action (training)


# One flat table: q ("d"), visits ("q"), variances ("d").
_Table = tuple["array[float]", "array[int]", "array[float]"]
_new_decision = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path


class QTableAgent:
    """Q-table over ``StateDiscretizer(state_config).num_states`` states and the six actions."""

    def __init__(
        self,
        q_config: QLearningConfig,
        state_config: StateConfig,
        *,
        mode: AgentMode = AgentMode.TRAINING,
        seed: int = 0,
        replay_config: ReplayBufferConfig | None = None,
    ) -> None:
        self.q_config = q_config
        self.state_config = state_config
        self.discretizer = StateDiscretizer(state_config)
        self.num_states: int = self.discretizer.num_states
        cells = self.num_states * NUM_ACTIONS
        self._q_buf = array("d", bytes(8 * cells))
        self._v_buf = array("q", bytes(8 * cells))
        self._var_buf = array("d", [math.nan]) * cells
        # samples behind each variance since it was last unknown (a restore without
        # variances restarts it): its learning rate is max(1/k, alpha), unbiased from the start
        self._var_samples = array("q", bytes(8 * cells))
        self._q: npt.NDArray[np.float64] = np.frombuffer(self._q_buf, dtype=np.float64).reshape(
            self.num_states, NUM_ACTIONS
        )
        self._v: npt.NDArray[np.int64] = np.frombuffer(self._v_buf, dtype=np.int64).reshape(
            self.num_states, NUM_ACTIONS
        )
        self._var: npt.NDArray[np.float64] = np.frombuffer(self._var_buf, dtype=np.float64).reshape(
            self.num_states, NUM_ACTIONS
        )
        self._alpha = q_config.alpha
        self._trace_decay = q_config.trace_decay
        self._min_visits = q_config.min_visits_to_deviate
        self._confidence = q_config.deviation_confidence
        self._gamma = q_config.gamma
        self._decay = q_config.epsilon_decay
        self._epsilon_min = q_config.epsilon_min
        self._exploration_scale = q_config.exploration_scale
        self.seed = seed
        decide_seed, replay_seed = np.random.SeedSequence(seed).spawn(2)
        self._rng = np.random.default_rng(decide_seed)
        self._uniforms: list[float] = self._rng.random(UNIFORM_BLOCK).tolist()
        self._upos = 0
        self.replay_config = replay_config
        self.replay_buffer: ExperienceReplayBuffer | None = (
            None
            if replay_config is None
            else ExperienceReplayBuffer.from_config(replay_config, seed=replay_seed)
        )
        self._since_replay = 0
        self._live: _Table = (self._q_buf, self._v_buf, self._var_buf)
        self._rule = policy.RuleParameters.from_config(q_config)
        # The rule over the live table (its pool sums follow its updates) and over the table
        # decisions read: the live one, or a fixed one (``set_acting_table``).
        self._live_policy = self._policy_over(self._live)
        self._acting_policy = self._live_policy
        self._lock = threading.Lock()
        self._dirty: set[int] = set()
        self.updates: int = 0
        self._training_epsilon = q_config.epsilon
        self.epsilon: float = q_config.epsilon
        self.mode = mode
        self._learning = True
        self._decays = True
        self.set_mode(mode)

    # -- table access --------------------------------------------------------------------
    @property
    def q_values(self) -> npt.NDArray[np.float64]:
        """(num_states, 6) float64 view of the Q-table; write in place, never rebind."""
        return self._q

    @q_values.setter
    def q_values(self, value: npt.NDArray[np.float64]) -> None:
        with self._lock:
            np.copyto(self._q, self._checked_q(value))
            self._refresh_policies()

    @property
    def visits(self) -> npt.NDArray[np.int64]:
        """(num_states, 6) int64 view of the online visit counts."""
        return self._v

    @visits.setter
    def visits(self, value: npt.NDArray[np.int64]) -> None:
        with self._lock:
            np.copyto(self._v, self._checked_visits(value))
            self._restart_variance_samples()
            self._refresh_policies()

    @property
    def variances(self) -> npt.NDArray[np.float64]:
        """(num_states, 6) float64 view of each pair's running variance of its update targets
        (NaN: unknown, e.g. restored from a store that kept none)."""
        return self._var

    @property
    def learning(self) -> bool:
        """False in evaluation mode: updates are no-ops."""
        return self._learning

    # -- modes ---------------------------------------------------------------------------
    def set_mode(self, mode: AgentMode) -> None:
        """Training resumes the training epsilon schedule; production uses 0.05; evaluation
        is greedy (epsilon 0) and never learns."""
        mode = AgentMode(mode)
        with self._lock:
            self.mode = mode
            self._learning = mode is not AgentMode.EVALUATION
            self._decays = mode is AgentMode.TRAINING
            if mode is AgentMode.TRAINING:
                self.epsilon = self._training_epsilon
            elif mode is AgentMode.PRODUCTION:
                self.epsilon = PRODUCTION_EPSILON
            else:
                self.epsilon = 0.0

    @property
    def training_epsilon(self) -> float:
        """The exploration rate training runs at (and resumes from): the live epsilon in
        training mode, the one it will return to otherwise. Stores persist this one."""
        return self._training_epsilon

    def set_epsilon(self, epsilon: float) -> None:
        """Set the exploration rate used from now on (in training, decay continues from it)."""
        _check_epsilon(epsilon)
        with self._lock:
            self.epsilon = float(epsilon)
            if self.mode is AgentMode.TRAINING:
                self._training_epsilon = self.epsilon

    # -- the table decisions read ----------------------------------------------------------
    def set_acting_table(
        self,
        q_values: npt.NDArray[np.float64] | None,
        visits: npt.NDArray[np.int64] | None = None,
        variances: npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Decide with a fixed copy of a table (a promoted policy) while learning goes on in
        the live one; ``None`` decides with the live table again."""
        if q_values is None:
            acting = self._live
        else:
            if visits is None:
                raise InvalidInputError("visits: expected the acting table's visit counts")
            q = self._checked_q(q_values)
            v = self._checked_visits(visits)
            var = self._checked_variances(variances)
            acting = (
                array("d", q.ravel().tobytes()),
                array("q", v.astype(np.int64).ravel().tobytes()),
                array("d", var.ravel().tobytes()),
            )
        rule = self._live_policy if acting is self._live else self._policy_over(acting)
        with self._lock:
            self._acting_policy = rule

    # -- decisions (sync core) -----------------------------------------------------------
    def decide_index(
        self,
        state_index: int,
        default_action: int | None = None,
        uniform: float | None = None,
        repeat: int | None = None,
    ) -> Decision:
        """Epsilon-greedy decision in state ``state_index`` (see the module docstring).
        ``uniform``: the draw in [0, 1) to decide with, for a caller that keeps its own seeded
        stream (the RL executor's per-episode stream); else the agent's own stream.
        ``repeat``: the action of an exploration stretch still running (training: taken again,
        explored, probability 1; ``Decision.stretch`` of the decision that started it says
        how many decisions it covers)."""
        if not 0 <= state_index < self.num_states:
            raise InvalidInputError(
                f"state_index = {state_index!r}: expected 0-{self.num_states - 1}"
            )
        fallback = self._base_action(default_action)
        rule = self._acting_policy  # read once: its row and its choice come from one table
        row = rule.row(state_index)
        greedy = rule.greedy(state_index, fallback)
        if uniform is None:
            pos = self._upos
            if pos >= UNIFORM_BLOCK:
                self._uniforms = self._rng.random(UNIFORM_BLOCK).tolist()
                pos = 0
            u = self._uniforms[pos]
            self._upos = pos + 1
        elif 0.0 <= uniform < 1.0:
            u = uniform
        else:
            raise InvalidInputError(f"uniform = {uniform!r}: expected a draw in [0, 1)")
        eps = self.epsilon
        if self._decays and self._exploration_scale > 0.0:
            eps = max(eps, self.state_exploration(state_index))
        if repeat is not None and self._decays:
            return _new_decision(
                Decision,
                (_ACTIONS[repeat], True, 1.0, tuple(row), _ACTIONS[greedy], eps, state_index, 0),
            )
        action, explored = policy.choose(greedy, eps, u)
        stretch = policy.stretch_length(u, eps) - 1 if explored and self._decays else 0
        return _new_decision(
            Decision,
            (
                _ACTIONS[action],
                explored,
                policy.action_probability(action, greedy, eps),
                tuple(row),
                _ACTIONS[greedy],
                eps,
                state_index,
                stretch,
            ),
        )

    def state_exploration(self, state_index: int) -> float:
        """The training exploration floor of a state: ``exploration_scale / sqrt(1 + n)``
        with ``n`` its visits (all actions), capped at 1."""
        start = state_index * NUM_ACTIONS
        visits = sum(self._v_buf[start : start + NUM_ACTIONS])
        return min(1.0, self._exploration_scale / math.sqrt(1.0 + visits))

    def _base_action(self, default_action: int | None) -> int:
        if default_action is None:
            return _FALLBACK
        if 0 <= default_action < NUM_ACTIONS:
            return int(default_action)
        raise InvalidInputError(
            f"default_action = {default_action!r}: expected 0-{NUM_ACTIONS - 1}"
        )

    def _policy_over(self, table: _Table) -> policy.TablePolicy:
        """The one decision rule over ``table`` (pools when the config pools)."""
        pools = self.discretizer.pools() if self._rule.pool_book_states else None
        return policy.TablePolicy(table[0], table[1], table[2], self._rule, pools)

    def _refresh_policies(self) -> None:
        """The live table changed as a whole: the rule over it recomputes its pools' sums."""
        self._live_policy.refresh()

    def _restart_variance_samples(self) -> None:
        """After the table was replaced: a known variance counts its pair's visits, an unknown
        one (NaN) none (its next sample restarts it)."""
        samples = np.frombuffer(self._var_samples, dtype=np.int64).reshape(self._v.shape)
        np.copyto(samples, np.where(np.isnan(self._var), 0, self._v))

    def greedy_index(self, state_index: int, default_action: int | None = None) -> ExecutionAction:
        """The greedy action in ``state_index`` (same tie-breaking, no exploration, no draw)."""
        if not 0 <= state_index < self.num_states:
            raise InvalidInputError(
                f"state_index = {state_index!r}: expected 0-{self.num_states - 1}"
            )
        fallback = self._base_action(default_action)
        return _ACTIONS[self._acting_policy.greedy(state_index, fallback)]

    # -- learning (sync core) ------------------------------------------------------------
    def update_index(
        self,
        s: int,
        a: int,
        reward: float,
        s_next: int,
        terminated: bool,
        next_base_action: int | None = None,
    ) -> float:
        """One online Q-learning update; returns the new Q(s, a) (unchanged in evaluation).
        A terminated transition ends an episode: in training, epsilon decays once."""
        n = self.num_states
        if not (0 <= s < n and 0 <= s_next < n and 0 <= a < NUM_ACTIONS):
            raise InvalidInputError(
                f"transition ({s!r}, {a!r}, -> {s_next!r}): expected states 0-{n - 1} "
                f"and an action 0-{NUM_ACTIONS - 1}"
            )
        if not -_INF < reward < _INF:
            raise InvalidInputError(f"reward = {reward!r}: expected a finite number")
        if next_base_action is not None and not 0 <= next_base_action < NUM_ACTIONS:
            raise InvalidInputError(
                f"next_base_action = {next_base_action!r}: expected 0-{NUM_ACTIONS - 1}"
            )
        cell = s * NUM_ACTIONS + a
        if not self._learning:
            return self._q_buf[cell]
        with self._lock:
            target = self._target(reward, s_next, terminated, next_base_action)
            return self._learn(cell, target, terminated)

    def _learn(self, cell: int, target: float, ends_episode: bool) -> float:
        """Move one pair toward ``target`` (rate ``max(1/n, alpha)``), update its variance,
        count the visit; at an episode's end decay epsilon (training). Caller holds the lock."""
        visits = self._v_buf[cell] + 1
        self._v_buf[cell] = visits
        rate = 1.0 / visits
        if rate < self._alpha:
            rate = self._alpha
        q_buf = self._q_buf
        current = q_buf[cell]
        delta = target - current
        new_q = current + rate * delta
        q_buf[cell] = new_q
        before = self._var_buf[cell]
        samples = 1 if visits == 1 or before != before else self._var_samples[cell] + 1
        self._var_samples[cell] = samples
        var_rate = 1.0 / samples
        if var_rate < self._alpha:
            var_rate = self._alpha
        variance = 0.0 if samples == 1 else before  # the first sample (or after an unknown)
        new_variance = self._var_buf[cell] = (1.0 - var_rate) * (
            variance + var_rate * delta * delta
        )
        self._dirty.add(cell)
        self._live_policy.cell_changed(
            cell, (visits - 1, current, before), (visits, new_q, new_variance)
        )
        self.updates += 1
        if ends_episode and self._decays:
            eps = self.epsilon
            decayed = eps * self._decay
            if decayed < self._epsilon_min:
                decayed = self._epsilon_min if eps > self._epsilon_min else eps
            self.epsilon = decayed
            self._training_epsilon = decayed
        return new_q

    def observe_episode(self, steps: Sequence[EpisodeStep]) -> None:
        """Learn from one whole episode (decisions in order; the last step ends it): every
        pair moves toward its lambda-return ``G_i = r_i + gamma * ((1 - lambda) * Q(s_{i+1},
        g_{i+1}) + lambda * G_{i+1})`` (``G`` of the last step: its reward), with ``g`` the
        rule's action at the next decision given the base's action there and ``lambda`` the
        config's ``trace_decay``; epsilon decays once. With ``trace_decay = 1`` the target is
        the episode's actual cost from that decision on (no bootstrap on values still being
        learned); the default 0.8 mixes in the value of the rule's next action, so a
        deviation is also credited with what the policy would do after it, not only with
        what the behaviour did (docs/learning.md). Replay gets the one-step transitions."""
        if not steps:
            return
        n = self.num_states
        for step in steps:
            if not (0 <= step.state_index < n and 0 <= step.action < NUM_ACTIONS):
                raise InvalidInputError(
                    f"episode step ({step.state_index!r}, {step.action!r}): expected a state "
                    f"0-{n - 1} and an action 0-{NUM_ACTIONS - 1}"
                )
            if not -_INF < step.reward < _INF:
                raise InvalidInputError(f"reward = {step.reward!r}: expected a finite number")
        if not self._learning:
            return
        lam = self._trace_decay
        gamma = self._gamma
        last = len(steps) - 1
        with self._lock:
            targets = [0.0] * len(steps)
            g = steps[last].reward
            targets[last] = g
            for i in range(last - 1, -1, -1):
                nxt = steps[i + 1]
                if lam < 1.0:
                    boot = self._greedy_value(nxt.state_index, nxt.base_action)
                    g = steps[i].reward + gamma * ((1.0 - lam) * boot + lam * g)
                else:
                    g = steps[i].reward + gamma * g
                targets[i] = g
            for i in range(last, -1, -1):
                step = steps[i]
                self._learn(step.state_index * NUM_ACTIONS + step.action, targets[i], i == last)
        buffer = self.replay_buffer
        if buffer is None or self.replay_config is None:
            return
        due = False
        with self._lock:
            for i, step in enumerate(steps):
                end = i == last
                nxt = step if end else steps[i + 1]
                buffer.add(step.state_index, step.action, step.reward, nxt.state_index, end,
                           False, None if end else nxt.base_action)  # fmt: skip
                self._since_replay += 1
                if self._since_replay >= self.replay_config.update_frequency:
                    self._since_replay = 0
                    due = True
        if due:
            self.replay()

    def _greedy_value(self, state_index: int, base_action: int) -> float:
        base = state_index * NUM_ACTIONS
        row = self._q_buf[base : base + NUM_ACTIONS].tolist()
        return row[self._live_policy.greedy(state_index, base_action)]

    def _target(
        self, reward: float, s_next: int, terminated: bool, next_base_action: int | None
    ) -> float:
        if terminated:
            return reward
        if next_base_action is not None:
            return reward + self._gamma * self._greedy_value(s_next, next_base_action)
        base = s_next * NUM_ACTIONS
        row = self._q_buf[base : base + NUM_ACTIONS].tolist()
        visits = self._v_buf[base : base + NUM_ACTIONS]
        tried = [q for q, v in zip(row, visits, strict=True) if v > 0]
        return reward + self._gamma * (max(tried) if tried else 0.0)

    def observe(
        self,
        s: int,
        a: int,
        reward: float,
        s_next: int,
        terminated: bool,
        truncated: bool = False,
        next_base_action: int | None = None,
    ) -> float:
        """Online update, then (with a replay buffer) store the transition and replay one batch
        every ``update_frequency`` observations. Returns the new Q(s, a)."""
        new_q = self.update_index(s, a, reward, s_next, terminated, next_base_action)
        buffer = self.replay_buffer
        if not self._learning or buffer is None or self.replay_config is None:
            return new_q
        with self._lock:
            buffer.add(s, a, reward, s_next, terminated, truncated, next_base_action)
            self._since_replay += 1
            due = self._since_replay >= self.replay_config.update_frequency
            if due:
                self._since_replay = 0
        if due:
            self.replay()
        return new_q

    def replay(self) -> int:
        """Replay one sampled batch (if the buffer holds one); returns transitions replayed."""
        buffer = self.replay_buffer
        if not self._learning or buffer is None or self.replay_config is None:
            return 0
        batch_size = self.replay_config.batch_size
        with self._lock:
            if len(buffer) < batch_size:
                return 0
            batch = buffer.sample(batch_size)
            next_base = batch.next_base_action
            assert next_base is not None  # sampled rows always carry the column
            q_buf = self._q_buf
            alpha = self._alpha
            for s, a, r, s_next, term, nb in zip(
                batch.state_index.tolist(),
                batch.action.tolist(),
                batch.reward.tolist(),
                batch.next_state_index.tolist(),
                batch.terminated.tolist(),
                next_base.tolist(),
                strict=True,
            ):
                cell = s * NUM_ACTIONS + a
                target = self._target(r, s_next, term, None if nb < 0 else nb)
                current = q_buf[cell]
                q_buf[cell] = new_q = current + alpha * (target - current)
                self._dirty.add(cell)
                n, var = self._v_buf[cell], self._var_buf[cell]
                self._live_policy.cell_changed(cell, (n, current, var), (n, new_q, var))
        return batch_size

    # -- persistence support -------------------------------------------------------------
    def drain_dirty(self) -> npt.NDArray[np.int64]:
        """Flat indices (state_index * 6 + action) changed since the last drain, each once,
        sorted."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        return np.fromiter(sorted(dirty), dtype=np.int64, count=len(dirty))

    def restore(
        self,
        q_values: npt.NDArray[np.float64],
        visits: npt.NDArray[np.int64],
        epsilon: float,
        updates: int,
        variances: npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Replace the table, visit counts, variances (None: unknown, NaN), training epsilon
        and update count (e.g. from the store or a model file). Clears the dirty set. In
        production and evaluation modes the mode's epsilon stays in force; ``epsilon``
        becomes the training epsilon."""
        q = self._checked_q(q_values)
        v = self._checked_visits(visits)
        var = self._checked_variances(variances)
        _check_epsilon(epsilon)
        if isinstance(updates, bool) or not isinstance(updates, int | np.integer) or updates < 0:
            raise InvalidInputError(f"updates = {updates!r}: expected an integer >= 0")
        with self._lock:
            np.copyto(self._q, q)
            np.copyto(self._v, v)
            np.copyto(self._var, var)
            self._restart_variance_samples()
            self.updates = int(updates)
            self._refresh_policies()
            self._training_epsilon = float(epsilon)
            if self.mode is AgentMode.TRAINING:
                self.epsilon = float(epsilon)
            self._dirty = set()

    def _checked_q(self, value: npt.ArrayLike) -> npt.NDArray[np.float64]:
        q = np.asarray(value, dtype=np.float64)
        if q.shape != self._q.shape:
            raise InvalidInputError(
                f"q_values of shape {q.shape}: expected {self._q.shape} for this state config"
            )
        if not np.isfinite(q).all():
            raise InvalidInputError("q_values: expected finite numbers (found NaN or inf)")
        return q

    def _checked_variances(self, value: npt.ArrayLike | None) -> npt.NDArray[np.float64]:
        if value is None:
            return np.full(self._var.shape, np.nan)
        var = np.asarray(value, dtype=np.float64)
        if var.shape != self._var.shape:
            raise InvalidInputError(
                f"variances of shape {var.shape}: expected {self._var.shape} for this state config"
            )
        if bool((var < 0).any()) or bool(np.isinf(var).any()):
            raise InvalidInputError("variances: expected finite numbers >= 0 or NaN (unknown)")
        return var

    def _checked_visits(self, value: npt.ArrayLike) -> npt.NDArray[np.int64]:
        v = np.asarray(value)
        if v.shape != self._v.shape:
            raise InvalidInputError(
                f"visits of shape {v.shape}: expected {self._v.shape} for this state config"
            )
        if v.size and not np.issubdtype(v.dtype, np.integer):
            raise InvalidInputError(f"visits of dtype {v.dtype}: expected integers")
        if v.size and int(v.min()) < 0:
            raise InvalidInputError(f"visits: found {int(v.min())}, expected counts >= 0")
        return v.astype(np.int64, copy=False)

    def policy_metrics(self, *, acting: bool = False) -> PolicyMetrics:
        """States visited, mean Q over visited pairs, greedy action mix and epsilon, of the
        live table (``acting``: of the table decisions read, e.g. the snapshot an evaluation
        scores)."""
        with self._lock:
            if acting:
                table = self._acting_policy.table()
                q, v, var = table.q, table.visits, table.variances
            else:
                q = self._q.copy()
                v = self._v.copy()
                var = self._var.copy()
            eps = self.epsilon
        return compute_policy_metrics(
            q, v, eps, variances=var, rule=self.rule, pools=self.discretizer.pools()
        )

    def policy_table(self) -> policy.PolicyTable:
        """A copy of the live table (what validation measures and a snapshot stores)."""
        with self._lock:
            return policy.PolicyTable(self._q.copy(), self._v.copy(), self._var.copy())

    @property
    def rule(self) -> policy.RuleParameters:
        """The decision rule's parameters (for replay, off-policy estimates and metrics)."""
        return policy.RuleParameters.from_config(self.q_config)

    # -- async face (the original design's API) ------------------------------------------
    async def select_action(
        self, state: ExecutionState, default_action: int | None = None
    ) -> ExecutionAction:
        """Epsilon-greedy action for ``state``."""
        return self.decide_index(self.discretizer.state_index(state), default_action).action

    async def decide(self, state: ExecutionState, default_action: int | None = None) -> Decision:
        """Like ``select_action`` but with the whole ``Decision`` (probability, Q-values)."""
        return self.decide_index(self.discretizer.state_index(state), default_action)

    async def best_action(
        self, state: ExecutionState, default_action: int | None = None
    ) -> ExecutionAction:
        """Greedy action for ``state`` (no exploration)."""
        return self.greedy_index(self.discretizer.state_index(state), default_action)

    async def update(
        self,
        state: ExecutionState,
        action: ExecutionAction,
        reward: float | ExecutionReward,
        next_state: ExecutionState,
        terminated: bool = False,
    ) -> float:
        """Online Q-learning update from states; returns the new Q(s, a)."""
        value = reward.total() if isinstance(reward, ExecutionReward) else reward
        index = self.discretizer.state_index
        return self.update_index(index(state), int(action), value, index(next_state), terminated)


def _check_epsilon(epsilon: float) -> None:
    if (
        isinstance(epsilon, bool)
        or not isinstance(epsilon, int | float)
        or not 0.0 <= epsilon <= 1.0
    ):
        raise InvalidInputError(f"epsilon = {epsilon!r}: expected a number in [0, 1]")
