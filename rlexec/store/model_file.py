"""The JSON model file of the original design (``persistence.model_path``): export and import.

Format (``format_version`` 1), sparse - only entries that were visited or are non-zero::

    {"format": "rlexec-q-table", "format_version": 1, "num_states": 7500,
     "actions": ["Wait", ..., "Cancel"], "epsilon": 0.21, "updates": 12345,
     "entries": [["r3.t5.s1.i2.h2.u1.v0.q0", "Wait", -0.42, 17], ...]}

Loading validates everything before touching the agent (size limit, JSON syntax, NaN and
Infinity rejected, types, known state keys and actions, no duplicates, finite values,
non-negative visits); any problem raises ModelFileError and leaves the agent unchanged.
Never pickle.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from rlexec.errors import ModelFileError
from rlexec.records import ACTION_LABELS

FORMAT = "rlexec-q-table"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_ABS_Q = 1e12


def export_model(agent: Any, path: str | Path) -> int:
    """Write the agent's Q-table (atomically: temp file + rename); returns entries written."""
    q = np.asarray(agent.q_values, dtype=np.float64)
    visits = np.asarray(agent.visits, dtype=np.int64)
    flat = np.flatnonzero((q.reshape(-1) != 0.0) | (visits.reshape(-1) != 0))
    n_actions = q.shape[1]
    entries = [
        [_key_text(agent, int(i) // n_actions), ACTION_LABELS[int(i) % n_actions],
         float(q.reshape(-1)[i]), int(visits.reshape(-1)[i])]
        for i in flat
    ]  # fmt: skip
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "num_states": int(q.shape[0]),
        "actions": list(ACTION_LABELS),
        "epsilon": float(agent.training_epsilon),
        "updates": int(agent.updates),
        "entries": entries,
    }
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, allow_nan=False, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise ModelFileError(f"cannot write model file {target}: {exc.strerror}") from None
    return len(entries)


def read_model(
    agent: Any, path: str | Path
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], float, int]:
    """Parse and validate a model file for ``agent``'s table shape and state keys; returns
    (q_values, visits, epsilon, updates) without changing the agent."""
    source = Path(path)
    try:
        size = source.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ModelFileError(
                f"model file {source}: {size} bytes, expected at most {MAX_FILE_BYTES}"
            )
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelFileError(f"model file {source} not found") from None
    except UnicodeDecodeError:
        raise ModelFileError(f"model file {source} is not UTF-8 text") from None
    except OSError as exc:
        raise ModelFileError(f"model file {source} cannot be read: {exc.strerror}") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise ModelFileError(f"model file {source} is not valid JSON: {exc}") from None
    return _validate(agent, document, source)


def import_model(agent: Any, path: str | Path) -> int:
    """Validate the file, then replace the agent's table with it; returns entries loaded."""
    q, visits, epsilon, updates = read_model(agent, path)
    agent.restore(q, visits, epsilon, updates)
    return int(np.count_nonzero((q != 0.0) | (visits != 0)))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (expected finite numbers)")


def _fail(source: Path, field: str, value: Any, expected: str) -> ModelFileError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ModelFileError(f"model file {source}: {field} = {shown}: expected {expected}")


def _validate(
    agent: Any, doc: Any, source: Path
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], float, int]:
    if not isinstance(doc, dict):
        raise _fail(source, "(top level)", type(doc).__name__, "a JSON object")
    if doc.get("format") != FORMAT:
        raise _fail(source, "format", doc.get("format"), repr(FORMAT))
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise _fail(source, "format_version", version, f"{FORMAT_VERSION} (supported)")
    shape = np.shape(agent.q_values)
    if doc.get("num_states") != shape[0] or isinstance(doc.get("num_states"), bool):
        raise _fail(
            source, "num_states", doc.get("num_states"), f"{shape[0]} (this agent's state space)"
        )
    if doc.get("actions") != list(ACTION_LABELS):
        raise _fail(source, "actions", doc.get("actions"), str(list(ACTION_LABELS)))
    epsilon = doc.get("epsilon")
    if not _is_number(epsilon) or not 0.0 <= epsilon <= 1.0:
        raise _fail(source, "epsilon", epsilon, "a number in [0, 1]")
    updates = doc.get("updates")
    if not isinstance(updates, int) or isinstance(updates, bool) or updates < 0:
        raise _fail(source, "updates", updates, "an integer >= 0")
    entries = doc.get("entries")
    if not isinstance(entries, list):
        raise _fail(source, "entries", type(entries).__name__, "a list")
    if len(entries) > shape[0] * shape[1]:
        raise _fail(source, "entries", f"{len(entries)} entries", f"at most {shape[0] * shape[1]}")
    index = {_key_text(agent, i): i for i in range(shape[0])}
    q = np.zeros(shape, dtype=np.float64)
    visits = np.zeros(shape, dtype=np.int64)
    seen = np.zeros(shape, dtype=bool)
    for n, entry in enumerate(entries):
        where = f"entries[{n}]"
        if not isinstance(entry, list) or len(entry) != 4:
            raise _fail(source, where, entry, "[state_key, action, q, visits]")
        key, action, value, count = entry
        s = index.get(key) if isinstance(key, str) else None
        if s is None:
            raise _fail(source, f"{where} state key", key, "a state key of this state config")
        if action not in ACTION_LABELS:
            raise _fail(source, f"{where} action", action, f"one of {', '.join(ACTION_LABELS)}")
        if not _is_number(value) or abs(value) > MAX_ABS_Q:
            raise _fail(source, f"{where} q", value, f"a finite number within ±{MAX_ABS_Q:g}")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count < 2**62:
            raise _fail(source, f"{where} visits", count, "an integer >= 0")
        a = ACTION_LABELS.index(action)
        if seen[s, a]:
            raise _fail(source, where, entry[:2], "each (state key, action) once")
        seen[s, a] = True
        q[s, a] = value
        visits[s, a] = count
    return q, visits, float(epsilon), int(updates)


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _key_text(agent: Any, state_index: int) -> str:
    return str(agent.discretizer.key_from_index(state_index).to_text())


async def export_agent_from_store(config: Any, agent_name: str, path: str | Path) -> int:
    """Load agent ``agent_name`` from the configured store and write its model file."""
    agent, store, engine = await _open_agent(config, agent_name)
    try:
        if store.agent_id is None:
            raise ModelFileError(f"agent {agent_name!r} not found in the store")
        return export_model(agent, path)
    finally:
        await engine.dispose()


async def import_agent_into_store(config: Any, agent_name: str, path: str | Path) -> int:
    """Validate the model file, then make agent ``agent_name`` in the store hold exactly it."""
    agent, store, engine = await _open_agent(config, agent_name)
    try:
        q, visits, epsilon, updates = read_model(agent, path)
        store.replace_table(q, visits, epsilon, updates)
        await store.flush()
        return int(np.count_nonzero((q != 0.0) | (visits != 0)))
    finally:
        await engine.dispose()


async def _open_agent(config: Any, agent_name: str) -> tuple[Any, Any, Any]:
    from rlexec.rl.q_learning import QTableAgent
    from rlexec.store.engine import create_engine
    from rlexec.store.write_behind import AgentStore

    rl = config.rl_execution
    agent = QTableAgent(rl.q_learning, rl.state)
    engine = create_engine(rl.database.url, pool=False)
    store = AgentStore(
        agent,
        engine,
        agent_name=agent_name,
        persistence=rl.persistence.model_copy(update={"experiences_to_load": 0}),
        config_snapshot=rl.model_dump(mode="json", exclude={"database"}),
    )
    try:
        await store.load()
    except BaseException:
        await engine.dispose()
        raise
    return agent, store, engine
