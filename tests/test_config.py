"""Configuration: defaults, the shipped file, env overrides, and errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from rlexec.config import (
    AgentMode,
    Config,
    QLearningConfig,
    StateConfig,
    load_config,
    parse_config,
)
from rlexec.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "config" / "rl_execution.toml"


def section(name: str, **values: Any) -> dict[str, Any]:
    return {"rl_execution": {name: values}}


def test_defaults_keep_the_original_keys_with_the_meanings_that_learn() -> None:
    c = Config().rl_execution
    assert (c.enabled, c.mode) == (True, AgentMode.TRAINING)
    q = c.q_learning
    # alpha is the floor of the 1/n schedule, epsilon_decay applies once per episode
    assert (q.alpha, q.gamma, q.epsilon, q.epsilon_min, q.epsilon_decay) == (
        0.002,
        1.0,
        0.3,
        0.05,
        0.9995,
    )
    assert (q.min_visits_to_deviate, q.deviation_confidence) == (30, 1.0)
    s = c.state
    assert (s.spread_buckets, s.imbalance_buckets, s.time_buckets, s.remaining_buckets) == (
        2,
        2,
        5,
        5,
    )
    assert s.hour_buckets == 1  # a parent of minutes never changes hour: out of the key
    assert (s.include_volatility, s.include_queue_depth) == (False, False)
    assert (s.include_own_orders, s.include_schedule, s.schedule_tolerance) == (True, True, 0.1)
    r = c.reward
    assert (r.fill_weight, r.slippage_weight, r.time_weight, r.impact_weight) == (
        10.0,
        100.0,
        50.0,
        50.0,
    )
    b = c.replay_buffer
    assert (b.capacity, b.batch_size, b.update_frequency) == (10_000, 32, 10)
    assert c.persistence.save_interval_secs == 300
    assert c.persistence.model_path == "data/rl_execution_model.json"
    assert c.database.url.startswith("sqlite+aiosqlite:///")


def test_the_shipped_file_parses_to_the_defaults() -> None:
    assert load_config(REPO / "config" / "rl_execution.toml", env={}) == Config()


def _shipped_lines(section_name: str) -> dict[str, str]:
    """key -> the comment text of its line and of the continuation lines below it."""
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"[rl_execution.{section_name}]") + 1
    comments: dict[str, str] = {}
    key = ""
    for line in lines[start:]:
        if line.startswith("["):
            break
        match = re.match(r"(\w+)\s*=[^#]*(?:#(.*))?$", line)
        if match:
            key = match.group(1)
            comments[key] = match.group(2) or ""
        elif key and line.strip().startswith("#"):
            comments[key] += " " + line.strip().lstrip("#")
    return comments


def test_the_shipped_file_says_what_the_learning_keys_mean_now() -> None:
    q = _shipped_lines("q_learning")
    assert set(q) == set(QLearningConfig.model_fields)
    assert all(q.values()), "every q_learning key has a comment"
    assert "floor" in q["alpha"].lower() and "1/n" in q["alpha"]
    assert "episode" in q["epsilon_decay"].lower() and "not" in q["epsilon_decay"]
    s = _shipped_lines("state")
    # every key with a value is set to it; a key whose default is None (unset) stays a comment
    with_value = {k for k, f in StateConfig.model_fields.items() if f.default is not None}
    assert set(s) == with_value
    for key in ("hour_buckets", "include_own_orders", "include_schedule", "schedule_tolerance"):
        assert s[key], f"state.{key} has a comment"


@pytest.mark.parametrize(
    ("data", "key", "value"),
    [
        (section("q_learning", alpha=0.0), "rl_execution.q_learning.alpha", "0.0"),
        (section("q_learning", alpha=1.5), "rl_execution.q_learning.alpha", "1.5"),
        (section("q_learning", gamma=-0.1), "rl_execution.q_learning.gamma", "-0.1"),
        (section("q_learning", gamma=1.01), "rl_execution.q_learning.gamma", "1.01"),
        (section("q_learning", epsilon=1.2), "rl_execution.q_learning.epsilon", "1.2"),
        (section("q_learning", epsilon_decay=0.0), "rl_execution.q_learning.epsilon_decay", "0"),
        (section("q_learning", epsilon_decay=1.1), "rl_execution.q_learning.epsilon_decay", "1.1"),
        (section("q_learning", alpha="fast"), "rl_execution.q_learning.alpha", "fast"),
        (section("q_learning", epsilon=float("nan")), "rl_execution.q_learning.epsilon", "nan"),
        (
            section("q_learning", min_visits_to_deviate=0),
            "rl_execution.q_learning.min_visits_to_deviate",
            "0",
        ),
        (
            section("q_learning", deviation_confidence=-1.0),
            "rl_execution.q_learning.deviation_confidence",
            "-1.0",
        ),
        (section("state", hour_buckets=0), "rl_execution.state.hour_buckets", "0"),
        (section("state", schedule_tolerance=0.0), "rl_execution.state.schedule_tolerance", "0.0"),
        (section("state", schedule_tolerance=1.0), "rl_execution.state.schedule_tolerance", "1.0"),
        (section("state", spread_buckets=0), "rl_execution.state.spread_buckets", "0"),
        (section("state", time_buckets=0), "rl_execution.state.time_buckets", "0"),
        (section("state", hour_buckets=25), "rl_execution.state.hour_buckets", "25"),
        (section("state", remaining_buckets=2.5), "rl_execution.state.remaining_buckets", "2.5"),
        (section("reward", fill_weight=-1.0), "rl_execution.reward.fill_weight", "-1.0"),
        (section("reward", mode="greedy"), "rl_execution.reward.mode", "greedy"),
        (section("replay_buffer", capacity=0), "rl_execution.replay_buffer.capacity", "0"),
        (
            section("replay_buffer", update_frequency=0),
            "rl_execution.replay_buffer.update_frequency",
            "0",
        ),
        (
            section("persistence", save_interval_secs=0),
            "rl_execution.persistence.save_interval_secs",
            "0",
        ),
        (
            section("persistence", save_interval_secs=-5),
            "rl_execution.persistence.save_interval_secs",
            "-5",
        ),
        ({"rl_execution": {"mode": "turbo"}}, "rl_execution.mode", "turbo"),
        ({"rl_execution": {"enabled": "perhaps"}}, "rl_execution.enabled", "perhaps"),
        ({"rl_execution": {"q_learning": 3}}, "rl_execution.q_learning", "3"),
    ],
)
def test_bad_values_name_the_key_and_the_value(data: dict[str, Any], key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="test.toml")
    message = str(info.value)
    assert key in message
    assert value in message
    assert "test.toml" in message


def test_cross_field_rules_name_their_keys() -> None:
    with pytest.raises(ConfigError, match="epsilon_min") as info:
        parse_config(section("q_learning", epsilon=0.1, epsilon_min=0.2))
    assert "rl_execution.q_learning" in str(info.value)
    with pytest.raises(ConfigError, match="capacity") as info:
        parse_config(section("replay_buffer", capacity=10, batch_size=32))
    assert "rl_execution.replay_buffer" in str(info.value)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (section("q_learning", alpah=0.1), "rl_execution.q_learning.alpah"),
        (section("state", spread_bucket=3), "rl_execution.state.spread_bucket"),
        ({"rl_execution": {"q_leaning": {}}}, "rl_execution.q_leaning"),
        ({"rl_execution": {"moed": "training"}}, "rl_execution.moed"),
        ({"rl_exec": {}}, "rl_exec"),
    ],
)
def test_unknown_keys_are_rejected_by_name(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match="unknown key") as info:
        parse_config(data)
    assert key in str(info.value)


def test_environment_overrides_file_values(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[rl_execution.q_learning]\nalpha = 0.3\n", encoding="utf-8")
    env = {
        "RLEXEC_Q_LEARNING__ALPHA": "0.2",
        "RLEXEC_MODE": "production",
        "RLEXEC_DATABASE__URL": "postgresql+asyncpg://postgres@127.0.0.1/test",
        "RLEXEC_STATE__INCLUDE_VOLATILITY": "true",
        "OTHER": "ignored",
    }
    c = load_config(path, env=env).rl_execution
    assert c.q_learning.alpha == 0.2
    assert c.mode is AgentMode.PRODUCTION
    assert c.database.url == "postgresql+asyncpg://postgres@127.0.0.1/test"
    assert c.state.include_volatility is True
    assert load_config(path, env={}).rl_execution.q_learning.alpha == 0.3


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("RLEXEC_Q_LEARNING__ALHPA", "0.2", "alhpa"),
        ("RLEXEC_NOPE", "1", "nope"),
        ("RLEXEC_Q_LEARNING__ALPHA", "2.0", "rl_execution.q_learning.alpha"),
        ("RLEXEC_MODE__X", "1", "RLEXEC_MODE__X"),
    ],
)
def test_bad_environment_variables_are_errors(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_config(None, env={name: value, "RLEXEC_CONFIG": str(SHIPPED)})


def test_file_errors_are_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match="not found"):
        load_config(missing, env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[rl_execution\nalpha = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(broken, env={})
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"not found \(from RLEXEC_CONFIG=") as info:
        load_config(None, env={"RLEXEC_CONFIG": str(missing)})
    assert "\n" not in str(info.value)


def test_a_bad_environment_value_names_the_variable_not_the_file() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(SHIPPED, env={"RLEXEC_Q_LEARNING__ALPHA": "abc"})
    message = str(info.value)
    expected = "alpha = 'abc' (environment variable RLEXEC_Q_LEARNING__ALPHA)"
    assert f"rl_execution.q_learning.{expected}" in message
    assert "rl_execution.toml" not in message
    with pytest.raises(ConfigError) as info:  # a file error still names the file
        load_config(SHIPPED, env={"RLEXEC_CONFIG": str(SHIPPED), "RLEXEC_Q_LEARNING": "3"})
    assert "environment variable RLEXEC_Q_LEARNING" in str(info.value)


def test_text_keys_from_the_environment_are_taken_verbatim() -> None:
    url = 'sqlite+aiosqlite:///a\\tb"c.db'
    env = {"RLEXEC_DATABASE__URL": url, "RLEXEC_PERSISTENCE__MODEL_PATH": '"m.json"'}
    c = load_config(SHIPPED, env=env).rl_execution
    assert c.database.url == url
    assert c.persistence.model_path == '"m.json"'
    numbers = load_config(SHIPPED, env={"RLEXEC_Q_LEARNING__ALPHA": "0.25"}).rl_execution
    assert numbers.q_learning.alpha == 0.25
