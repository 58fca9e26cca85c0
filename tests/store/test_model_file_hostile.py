"""Hostile JSON model files against the real agent: each is refused with a one-line
ModelFileError naming the field, and the agent is left unchanged; the size is checked before
anything is parsed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlexec.config import QLearningConfig, StateConfig
from rlexec.errors import ModelFileError
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.model_file import MAX_COUNT, export_model, import_model, max_file_bytes


def agent(seed: int = 0) -> QTableAgent:
    a = QTableAgent(QLearningConfig(), StateConfig(), seed=seed)
    for i in range(8):
        a.q_values[10 * i, i % 6] = -0.5 * i
        a.visits[10 * i, i % 6] = i + 1
        if i % 2:
            a.variances[10 * i, i % 6] = 0.25 * i  # the others stay unknown (NaN)
    return a


def _entries(n: int, visits: int) -> Any:
    return lambda doc: [[*e[:3], visits, *e[4:]] for e in doc["entries"][:n]]


def _first(position: int, value: Any) -> Any:
    """The first entry (of the exported version 2 file) with one element replaced."""

    def change(doc: Any) -> Any:
        entry = list(doc["entries"][0])
        entry[position] = value
        return [entry]

    return change


BIG = 10**400
CASES: dict[str, tuple[str, Any]] = {
    "401-digit q": ("entries[0] q", _first(2, BIG)),
    "401-digit epsilon": ("epsilon", BIG),
    "401-digit visits": ("entries[0] visits", _first(3, BIG)),
    "401-digit variance": ("entries[0] variance", _first(4, BIG)),
    "negative variance": ("entries[0] variance", _first(4, -0.5)),
    "variance true": ("entries[0] variance", _first(4, True)),
    "variance text": ("entries[0] variance", _first(4, "0.5")),
    "version 2 entry of four": ("entries[0]", lambda doc: [doc["entries"][0][:4]]),
    "format_version 3": ("format_version", 3),
    "format_version true": ("format_version", True),
    "format_version 1.0": ("format_version", 1.0),
    "updates 2**63": ("updates", 2**63),
    "updates negative": ("updates", -1),
    "visit sum overflows": ("visits", _entries(8, 2**61)),
    "visits above the bound": ("entries[0] visits", _entries(1, MAX_COUNT + 1)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_values_are_refused(tmp_path: Path, case: str) -> None:
    field, change = CASES[case]
    path = tmp_path / "m.json"
    export_model(agent(), path)
    doc = json.loads(path.read_text())
    key = "entries" if field.startswith("entries") or field == "visits" else field
    doc[key] = change(doc) if callable(change) else change
    path.write_text(json.dumps(doc))
    target = agent(seed=3)
    target.q_values[1, 1] = 7.0
    target.variances[1, 1] = 0.5
    before = target.q_values.copy(), target.visits.copy(), target.epsilon, target.updates
    variances = target.variances.copy()
    with pytest.raises(ModelFileError) as info:
        import_model(target, path)
    message = str(info.value)
    assert f"{field}" in message and "\n" not in message and len(message) < 400
    np.testing.assert_array_equal(target.q_values, before[0])
    np.testing.assert_array_equal(target.visits, before[1])
    np.testing.assert_array_equal(target.variances, variances)  # NaN where NaN
    assert (target.epsilon, target.updates) == before[2:]


def test_unknown_top_level_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    export_model(agent(), path)
    doc = json.loads(path.read_text())
    doc["learning_rate"] = 0.5
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=r"\(top level\) keys = \['learning_rate'\]"):
        import_model(agent(), path)


def test_size_is_checked_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    export_model(agent(), path)
    limit = max_file_bytes(agent().q_values.shape)
    text = path.read_text()
    # valid JSON padded with whitespace just past this agent's limit (about 11 MB)
    path.write_text(text[:-1] + " " * (limit - len(text) + 1) + "}")
    started = time.perf_counter()
    with pytest.raises(ModelFileError, match=f"expected at most {limit} .*before parsing"):
        import_model(agent(), path)
    assert time.perf_counter() - started < 1.0  # refused from the size alone
    path.write_text(text[:-1] + " " * (limit - len(text) - 1) + "}")  # at the limit: accepted
    assert import_model(agent(seed=4), path) == 8


def test_a_valid_file_still_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    source = agent()
    assert export_model(source, path) == 8
    other = QTableAgent(QLearningConfig(), StateConfig(), seed=9)
    other.variances[3, 3] = 1.0  # replaced: the file says unknown there
    assert import_model(other, path) == 8
    np.testing.assert_array_equal(other.q_values, source.q_values)
    np.testing.assert_array_equal(other.visits, source.visits)
    np.testing.assert_array_equal(other.variances, source.variances)
    assert int(np.count_nonzero(~np.isnan(other.variances))) == 4


def test_version_2_keeps_a_variance_where_q_and_visits_are_zero(tmp_path: Path) -> None:
    source = agent()
    source.variances[77, 4] = 0.125  # replay moved the estimate of a never-visited cell
    path = tmp_path / "m.json"
    assert export_model(source, path) == 9
    doc = json.loads(path.read_text())
    assert doc["format_version"] == 2
    assert next(e for e in doc["entries"] if e[4] == 0.125)[2:] == [0.0, 0, 0.125]
    other = QTableAgent(QLearningConfig(), StateConfig())
    assert import_model(other, path) == 9
    assert other.variances[77, 4] == 0.125 and np.isnan(other.variances[76, 4])


def _as_version_1(path: Path) -> None:
    doc = json.loads(path.read_text())
    doc["format_version"] = 1
    doc["entries"] = [entry[:4] for entry in doc["entries"]]
    path.write_text(json.dumps(doc))


def test_a_version_1_file_still_imports_with_unknown_variances(tmp_path: Path) -> None:
    path = tmp_path / "v1.json"
    source = agent()
    export_model(source, path)
    _as_version_1(path)
    other = QTableAgent(QLearningConfig(), StateConfig(), seed=2)
    other.variances[:] = 3.0
    assert import_model(other, path) == 8
    np.testing.assert_array_equal(other.q_values, source.q_values)
    np.testing.assert_array_equal(other.visits, source.visits)
    assert np.isnan(other.variances).all()
    # a version 1 file is held to version 1's shape: entries of four
    doc = json.loads(path.read_text())
    doc["entries"][0] = [*doc["entries"][0], 0.5]
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=r"entries\[0\] = .*\(format_version 1\)"):
        import_model(other, path)
