"""The JSON model file of the original design (``persistence.model_path``): export and import.

Format (``format_version`` 2), sparse - only entries that were visited, are non-zero or have a
known variance::

    {"format": "rlexec-q-table", "format_version": 2, "num_states": 7500,
     "actions": ["Wait", ..., "Cancel"], "epsilon": 0.21, "updates": 12345,
     "entries": [["r3.t5.s1.i2.h2.u1.v0.q0", "Wait", -0.42, 17, 0.031], ...]}

An entry is ``[state_key, action, q, visits, variance]``; ``variance`` is the agent's estimate
of the variance of ``q`` (reward units squared) or ``null`` when unknown. Version 1 files (the
same without ``variance``: entries of four) still import, every variance unknown. Export
always writes version 2.

Loading validates everything before touching the agent; any problem raises ModelFileError
and leaves the agent unchanged. Never pickle.

- Size first: a file larger than this agent's table could need (``max_file_bytes``: every
  (state, action) entry at ``ENTRY_BYTES``, plus ``HEADER_BYTES``) is refused before it is
  parsed, and never more than that is read.
- Exactly the keys above at the top level (an unknown key is an error, not ignored);
  ``format_version`` the integer 1 or 2 (not ``true``, not ``1.0``); entries of exactly four
  (version 1) or five (version 2) elements.
- Numbers: q-values finite within ±``MAX_ABS_Q``, epsilon in [0, 1], NaN and Infinity
  rejected, integers of any length handled (no overflow); ``updates``, each entry's visits and
  their sum at most ``MAX_COUNT`` (2**53: counts stay exact in float64 and far from the 64-bit
  columns' limit); a variance ``null`` or a finite number in [0, ``MAX_VARIANCE``].
- Known state keys and actions, each (state key, action) once.

``import_agent_into_store`` snapshots an existing agent's table first, so an import can be
undone (``rlexec snapshot export ID PATH`` then ``rlexec model import PATH``).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeGuard

import numpy as np

from rlexec.errors import InvalidInputError, ModelFileError
from rlexec.names import check_agent_name
from rlexec.records import ACTION_LABELS

FORMAT = "rlexec-q-table"
FORMAT_VERSION = 2  # what export writes
SUPPORTED_VERSIONS = (1, 2)
ENTRY_FIELDS = {
    1: "[state_key, action, q, visits]",
    2: "[state_key, action, q, visits, variance]",
}
TOP_LEVEL_KEYS = ("format", "format_version", "num_states", "actions", "epsilon", "updates",
                  "entries")  # fmt: skip
ENTRY_BYTES = 256  # generous for one indented [state_key, action, q, visits, variance] entry
HEADER_BYTES = 64 * 1024
MAX_ABS_Q = 1e12
MAX_VARIANCE = MAX_ABS_Q**2
MAX_COUNT = 2**53


class ModelTable(NamedTuple):
    """A validated model file: the dense table and the agent's scalars."""

    q: np.ndarray[Any, np.dtype[np.float64]]
    visits: np.ndarray[Any, np.dtype[np.int64]]
    variances: np.ndarray[Any, np.dtype[np.float64]]  # NaN: unknown
    epsilon: float
    updates: int

    def entries(self) -> int:
        """Cells a file holds an entry for (non-zero, visited or with a known variance)."""
        return int(np.count_nonzero(_stored(self.q, self.visits, self.variances)))


def _stored(q: Any, visits: Any, variances: Any) -> Any:
    return (q != 0.0) | (visits != 0) | ~np.isnan(variances)


def max_file_bytes(shape: tuple[int, ...]) -> int:
    """The largest model file an agent of Q-table ``shape`` accepts."""
    return HEADER_BYTES + int(np.prod(shape)) * ENTRY_BYTES


def export_model(agent: Any, path: str | Path) -> int:
    """Write the agent's Q-table (atomically: temp file + rename); returns entries written."""
    q = np.asarray(agent.q_values, dtype=np.float64).reshape(-1)
    visits = np.asarray(agent.visits, dtype=np.int64).reshape(-1)
    variances = np.asarray(agent.variances, dtype=np.float64).reshape(-1)
    flat = np.flatnonzero(_stored(q, visits, variances))
    n_actions = np.shape(agent.q_values)[1]
    entries = [
        [_key_text(agent, int(i) // n_actions), ACTION_LABELS[int(i) % n_actions],
         float(q[i]), int(visits[i]), None if math.isnan(variances[i]) else float(variances[i])]
        for i in flat
    ]  # fmt: skip
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "num_states": int(np.shape(agent.q_values)[0]),
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
    """``read_model_table`` without the variances: (q_values, visits, epsilon, updates)."""
    table = read_model_table(agent, path)
    return table.q, table.visits, table.epsilon, table.updates


def read_model_table(agent: Any, path: str | Path) -> ModelTable:
    """Parse and validate a model file (version 1 or 2) for ``agent``'s table shape and state
    keys, without changing the agent."""
    source = Path(path)
    limit = max_file_bytes(np.shape(agent.q_values))
    try:
        size = source.stat().st_size
        if size > limit:
            raise _too_large(source, size, limit)
        with source.open("rb") as fh:
            data = fh.read(limit + 1)  # the file may have grown since stat()
        if len(data) > limit:
            raise _too_large(source, len(data), limit)
        text = data.decode("utf-8")
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
    table = read_model_table(agent, path)
    agent.restore(table.q, table.visits, table.epsilon, table.updates, table.variances)
    return table.entries()


def _too_large(source: Path, size: int, limit: int) -> ModelFileError:
    return ModelFileError(
        f"model file {source}: {size} bytes, expected at most {limit} for this agent's state "
        "space (checked before parsing)"
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (expected finite numbers)")


def _fail(source: Path, field: str, value: Any, expected: str) -> ModelFileError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ModelFileError(f"model file {source}: {field} = {shown}: expected {expected}")


def _validate(agent: Any, doc: Any, source: Path) -> ModelTable:
    if not isinstance(doc, dict):
        raise _fail(source, "(top level)", type(doc).__name__, "a JSON object")
    unknown = sorted(set(doc) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise _fail(source, "(top level) keys", unknown, f"only {', '.join(TOP_LEVEL_KEYS)}")
    if doc.get("format") != FORMAT:
        raise _fail(source, "format", doc.get("format"), repr(FORMAT))
    version = doc.get("format_version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise _fail(
            source, "format_version", version,
            f"the integer {' or '.join(map(str, SUPPORTED_VERSIONS))} (supported)",
        )  # fmt: skip
    shape = np.shape(agent.q_values)
    if doc.get("num_states") != shape[0] or isinstance(doc.get("num_states"), bool):
        raise _fail(
            source, "num_states", doc.get("num_states"), f"{shape[0]} (this agent's state space)"
        )
    if doc.get("actions") != list(ACTION_LABELS):
        raise _fail(source, "actions", doc.get("actions"), str(list(ACTION_LABELS)))
    epsilon = doc.get("epsilon")
    if not _is_number(epsilon, 1.0) or not 0.0 <= epsilon <= 1.0:
        raise _fail(source, "epsilon", epsilon, "a number in [0, 1]")
    updates = doc.get("updates")
    if not _is_count(updates):
        raise _fail(source, "updates", updates, f"an integer in [0, {MAX_COUNT}]")
    entries = doc.get("entries")
    if not isinstance(entries, list):
        raise _fail(source, "entries", type(entries).__name__, "a list")
    if len(entries) > shape[0] * shape[1]:
        raise _fail(source, "entries", f"{len(entries)} entries", f"at most {shape[0] * shape[1]}")
    index = {_key_text(agent, i): i for i in range(shape[0])}
    q = np.zeros(shape, dtype=np.float64)
    visits = np.zeros(shape, dtype=np.int64)
    variances = np.full(shape, np.nan)
    seen = np.zeros(shape, dtype=bool)
    total_visits = 0
    width = 4 if version == 1 else 5
    for n, entry in enumerate(entries):
        where = f"entries[{n}]"
        if not isinstance(entry, list) or len(entry) != width:
            raise _fail(source, where, entry, f"{ENTRY_FIELDS[version]} (format_version {version})")
        key, action, value, count = entry[:4]
        variance = entry[4] if width == 5 else None
        s = index.get(key) if isinstance(key, str) else None
        if s is None:
            raise _fail(source, f"{where} state key", key, "a state key of this state config")
        if action not in ACTION_LABELS:
            raise _fail(source, f"{where} action", action, f"one of {', '.join(ACTION_LABELS)}")
        if not _is_number(value, MAX_ABS_Q):
            raise _fail(source, f"{where} q", value, f"a finite number within ±{MAX_ABS_Q:g}")
        if not _is_count(count):
            raise _fail(source, f"{where} visits", count, f"an integer in [0, {MAX_COUNT}]")
        if variance is not None and (not _is_number(variance, MAX_VARIANCE) or variance < 0):
            raise _fail(source, f"{where} variance", variance,
                        f"null (unknown) or a finite number in [0, {MAX_VARIANCE:g}]")  # fmt: skip
        total_visits += count
        if total_visits > MAX_COUNT:
            raise _fail(source, f"{where} visits", count,
                        f"visits summing to at most {MAX_COUNT} over all entries")  # fmt: skip
        a = ACTION_LABELS.index(action)
        if seen[s, a]:
            raise _fail(source, where, entry[:2], "each (state key, action) once")
        seen[s, a] = True
        q[s, a] = value
        visits[s, a] = count
        if variance is not None:
            variances[s, a] = variance
    return ModelTable(q, visits, variances, float(epsilon), int(updates))


def _is_number(value: Any, bound: float) -> TypeGuard[float]:
    """A JSON number (not a boolean) within ±``bound``; integers of any length are compared
    exactly, never converted (a 400-digit integer overflows a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return -bound <= value <= bound


def _is_count(value: Any) -> TypeGuard[int]:
    return type(value) is int and 0 <= value <= MAX_COUNT


def _key_text(agent: Any, state_index: int) -> str:
    return str(agent.discretizer.key_from_index(state_index).to_text())


async def export_agent_from_store(config: Any, agent_name: str, path: str | Path) -> int:
    """Write the model file of agent ``agent_name`` from the configured store (an agent that is
    not in the store is an error; nothing is created)."""
    agent, store, engine, _ = await _open_agent(config, agent_name, must_exist=True, read_only=True)
    try:
        return export_model(agent, path)
    finally:
        await store.close()
        await engine.dispose()


@dataclass(frozen=True, slots=True)
class ImportResult:
    entries: int  # Q entries loaded
    snapshot_id: int | None  # the snapshot of the table it replaced (None: a new agent)


async def import_agent_into_store(config: Any, agent_name: str, path: str | Path) -> ImportResult:
    """Validate the model file, snapshot the agent's current table if it exists, then make
    agent ``agent_name`` in the store hold exactly the file's table."""
    from rlexec.store.snapshots import create_snapshot

    agent, store, engine, existed = await _open_agent(config, agent_name, must_exist=False)
    try:
        table = read_model_table(agent, path)
        snapshot_id = None
        if existed:
            label = f"before model import from {Path(path).name}"[:200]
            snapshot_id = (await create_snapshot(engine, agent_name, label)).id
        store.replace_table(table.q, table.visits, table.epsilon, table.updates, table.variances)
        await store.flush()
        return ImportResult(table.entries(), snapshot_id)
    finally:
        await store.close()
        await engine.dispose()


async def _open_agent(
    config: Any, agent_name: str, *, must_exist: bool, read_only: bool = False
) -> tuple[Any, Any, Any, bool]:
    """(agent, store, engine, existed) for ``agent_name``, from the composition root
    (``rlexec.agent``; no experiences loaded: a table import/export needs none); the database
    must be at head (a new SQLite file is created unless ``must_exist``)."""
    from rlexec.agent import assemble
    from rlexec.config import AgentMode
    from rlexec.store.engine import create_engine, session_factory
    from rlexec.store.migrate import require_schema
    from rlexec.store.repositories import AgentRepository
    from rlexec.store.write_behind import Role

    check_agent_name(agent_name)
    rl = config.rl_execution
    await require_schema(rl.database.url, create=not must_exist)
    engine = create_engine(rl.database.url, pool=False, read_only=read_only)
    try:
        async with session_factory(engine)() as db:
            existed = await AgentRepository(db).get_by_name(agent_name) is not None
        if must_exist and not existed:
            raise InvalidInputError(f"agent {agent_name!r} is not in the store: nothing to export")
        persistent = assemble(
            config,
            agent_name,
            mode=AgentMode.EVALUATION if read_only else AgentMode.TRAINING,
            role=Role.READER if read_only else Role.LEARNER,
            market="ignore",
            experiences=False,
        )
        await persistent.store.load()
    except BaseException:
        await engine.dispose()
        raise
    return persistent.agent, persistent.store, engine, existed
