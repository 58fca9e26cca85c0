"""Configuration: ``config/rl_execution.toml`` validated by pydantic, overridden by RLEXEC_*.

File layout (the original design's sections, plus the product's own)::

    [rl_execution]                 enabled, mode
    [rl_execution.q_learning]      alpha, gamma, epsilon, epsilon_min, epsilon_decay
    [rl_execution.state]           bucket counts and which optional features enter the key
    [rl_execution.reward]          mode and the four weights
    [rl_execution.replay_buffer]   capacity, batch_size, update_frequency
    [rl_execution.persistence]     save_interval_secs, model_path, ...
    [rl_execution.database]        url
    [rl_execution.simulator]       market preset and episode shape
    [rl_execution.executor]        the base schedule the RL executor wraps, decision interval
    [rl_execution.evaluation]      held-out seeds

Environment overrides: ``RLEXEC_<SECTION>__<KEY>=value`` sets ``rl_execution.<section>.<key>``
(``RLEXEC_Q_LEARNING__ALPHA=0.2``, ``RLEXEC_DATABASE__URL=postgresql+asyncpg://...``);
``RLEXEC_<KEY>`` sets a key of ``[rl_execution]`` itself (``RLEXEC_MODE=production``). A double
underscore separates levels. The value of a text key (``database.url``, paths) is taken verbatim;
other values are parsed as TOML scalars (``0.2``, ``true``), and anything that does not parse is
taken as text (and then rejected by the key's validation if it must be a number).
``RLEXEC_CONFIG`` names the file and is not a key. An RLEXEC_* variable that names no key is an
error, like an unknown key in the file. A bad value is reported with where it came from (the
file, or the environment variable), and any password in a URL it quotes is masked.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rlexec.errors import ConfigError
from rlexec.redact import mask_passwords

DEFAULT_CONFIG_PATH = Path("config/rl_execution.toml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/rlexec.db"
ENV_PREFIX = "RLEXEC_"
ENV_CONFIG_FILE = "RLEXEC_CONFIG"
ROOT_SECTION = "rl_execution"


class AgentMode(StrEnum):
    """Training explores and learns; production exploits (epsilon 0.05) and learns; evaluation
    is greedy and never learns."""

    TRAINING = "training"
    PRODUCTION = "production"
    EVALUATION = "evaluation"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class QLearningConfig(_Section):
    alpha: float = Field(
        0.002,
        gt=0.0,
        le=1.0,
        description="learning-rate floor: a pair's n-th update uses max(1/n, alpha), in (0, 1]",
    )
    gamma: float = Field(1.0, ge=0.0, le=1.0, description="discount factor per decision, in [0, 1]")
    trace_decay: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="lambda of the episode's lambda-returns (1: its actual cost; 0: one-step)",
    )
    epsilon: float = Field(0.3, ge=0.0, le=1.0, description="initial exploration rate")
    epsilon_min: float = Field(0.05, ge=0.0, le=1.0, description="exploration floor")
    epsilon_decay: float = Field(
        0.9995, gt=0.0, le=1.0, description="factor per training episode (parent order)"
    )
    min_visits_to_deviate: int = Field(
        30, ge=1, description="tries of an action (and of the base's) before it may replace it"
    )
    deviation_confidence: float = Field(
        1.0, ge=0.0, description="z of the lower confidence bound on the advantage over the base"
    )
    exploration_scale: float = Field(
        3.0,
        ge=0.0,
        description="training explores a state at least at rate exploration_scale / "
        "sqrt(1 + its visits), capped at 1 (0: epsilon alone)",
    )
    pool_book_states: bool = Field(
        True,
        description="an under-visited state borrows the statistics of the states that differ "
        "from it only in book features",
    )

    @model_validator(mode="after")
    def _floor_below_start(self) -> Self:
        if self.epsilon_min > self.epsilon:
            raise ValueError(
                f"epsilon_min ({self.epsilon_min}) must be <= epsilon ({self.epsilon})"
            )
        return self


class StateConfig(_Section):
    spread_buckets: int = Field(2, ge=1)
    imbalance_buckets: int = Field(2, ge=1)
    time_buckets: int = Field(5, ge=2)
    remaining_buckets: int = Field(5, ge=2)
    hour_buckets: int = Field(
        1, ge=1, le=24, description="hour of day in equal blocks (1: left out of the key)"
    )
    volatility_buckets: int = Field(3, ge=2)
    queue_depth_buckets: int = Field(3, ge=2)
    include_volatility: bool = Field(False, description="put recent volatility into the key")
    include_queue_depth: bool = Field(False, description="put near-touch depth into the key")
    include_own_orders: bool = Field(
        True, description="put our own resting quantity (none / some / all) into the key"
    )
    include_schedule: bool = Field(
        True, description="put our position against the base schedule into the key"
    )
    include_touch: bool = Field(
        True, description="put whether a child of ours rests behind the near touch into the key"
    )
    schedule_tolerance: float = Field(
        0.1, gt=0.0, lt=1.0, description="share of the parent: on schedule within +/- this"
    )
    typical_queue_depth: float | None = Field(
        None,
        gt=0.0,
        description="shares: what the queue-depth bucket divides the near-touch size by; None: "
        "the simulator's own, or (an outside engine) estimated from the books seen",
    )


class RewardMode(StrEnum):
    """``shortfall``: per-step rewards that sum to minus the episode's implementation shortfall
    (completion included). ``original``: the original design's fill/slippage/time/impact mix."""

    SHORTFALL = "shortfall"
    ORIGINAL = "original"


class RewardConfig(_Section):
    mode: RewardMode = RewardMode.SHORTFALL
    paired_baseline: bool = Field(
        False,
        description="in simulated training, charge each transition its shortfall change minus "
        "the base schedule's on the same seed (common random numbers; see rlexec.execution."
        "paired_baseline for when it helps and when it biases)",
    )
    fill_weight: float = Field(10.0, ge=0.0)
    slippage_weight: float = Field(100.0, ge=0.0)
    time_weight: float = Field(50.0, ge=0.0)
    impact_weight: float = Field(50.0, ge=0.0)


class ReplayBufferConfig(_Section):
    capacity: int = Field(10_000, ge=1)
    batch_size: int = Field(32, ge=1)
    update_frequency: int = Field(10, ge=1, description="replay a batch every N updates")

    @model_validator(mode="after")
    def _capacity_holds_a_batch(self) -> Self:
        if self.capacity < self.batch_size:
            raise ValueError(
                f"capacity ({self.capacity}) must be >= batch_size ({self.batch_size})"
            )
        return self


class PersistenceConfig(_Section):
    save_interval_secs: float = Field(
        300.0, gt=0.0, description="flush (and publish) period: the most learning a crash loses"
    )
    model_path: str = "data/rl_execution_model.json"
    flush_on_episode_end: bool = False
    max_pending_mb: float = Field(
        256.0,
        gt=0.0,
        description="memory (MiB) the rows waiting for the store may take before the oldest "
        "are shed (see rlexec.store.pending); past a quarter of it a flush is asked at once",
    )
    probe_interval_secs: float = Field(
        1.0, gt=0.0, description="while the store is down: how often to try it again"
    )
    close_timeout_secs: float = Field(
        60.0,
        gt=0.0,
        description="the longest close() waits for its final flush (a store that is down or "
        "hangs); then it reports what it could not save and returns",
    )
    learner_lease_secs: float = Field(
        15.0,
        gt=0.0,
        description="the learner lease's lifetime: a dead learner's successor "
        "takes over within this time",
    )
    seed_block: int = Field(
        10_000, ge=1, description="training seeds a process takes from the store at a time"
    )
    experiences_to_load: int = Field(10_000, ge=0, description="refill replay on start")


class DatabaseConfig(_Section):
    url: str = DEFAULT_DATABASE_URL
    connect_timeout_secs: float = Field(10.0, gt=0.0)
    command_timeout_secs: float = Field(
        60.0,
        gt=0.0,
        description="the longest one store operation (a flush, a lease renewal, a fetch of "
        "queued transitions) and each statement in it may take; then it fails as if the store "
        "were down (a server or network that hangs without an error)",
    )


class SimulatorConfig(_Section):
    market: Literal["equity", "prediction_market", "almgren_chriss", "recorded"] = "equity"
    recorded_path: str | None = Field(
        None, description="market = 'recorded': the snapshots CSV (docs/recorded-data.md)"
    )
    recorded_trades_path: str | None = Field(
        None,
        description="market = 'recorded': the trades CSV (default: the snapshots file's name "
        "with 'snapshots' replaced by 'trades', if that file exists)",
    )
    recorded_training_share: float = Field(
        0.7,
        gt=0.0,
        lt=1.0,
        description="market = recorded: training seeds (below evaluation.validation_first_seed) "
        "replay this first share of the recording (docs/recorded-data.md)",
    )
    recorded_validation_share: float = Field(
        0.15,
        gt=0.0,
        lt=1.0,
        description="market = recorded: validation and promotion seeds (evaluation."
        "validation_first_seed up to evaluation.first_seed) replay this share after the "
        "training share; evaluation seeds (evaluation.first_seed onwards) the rest",
    )
    almgren_chriss_preset: Literal["equity_intraday", "paper"] = Field(
        "equity_intraday",
        description="Almgren-Chriss parameters: one-second intraday equity steps, or the "
        "paper's example (daily steps; use parent_quantity 1000000, horizon_steps 5)",
    )
    parent_quantity: int = Field(
        2_000, gt=0, description="shares (contracts) per parent order in simulated episodes"
    )
    side: Literal["buy", "sell", "random"] = "buy"
    horizon_steps: int = Field(300, ge=2, description="simulator steps per parent order")
    seed: int = Field(0, ge=0, description="first training seed")
    lob: dict[str, float | bool] = Field(
        default_factory=dict,
        description="overrides of the preset's simulator parameters (rlexec.market.params)",
    )

    @field_validator("lob")
    @classmethod
    def _known_lob_parameters(cls, value: dict[str, float | bool]) -> dict[str, float | bool]:
        from rlexec.errors import InvalidInputError
        from rlexec.market.params import LobParams

        try:
            LobParams().with_overrides(value)
        except InvalidInputError as exc:
            raise ValueError(str(exc).replace("lob.", "rl_execution.simulator.lob.", 1)) from None
        return value

    @model_validator(mode="after")
    def _recorded_shares_leave_an_evaluation_range(self) -> Self:
        training, validation = self.recorded_training_share, self.recorded_validation_share
        if training + validation >= 1.0 - 1e-9:
            raise ValueError(
                f"recorded_training_share = {training} + recorded_validation_share = "
                f"{validation} leave no evaluation range: expected a sum below 1"
            )
        return self


class ExecutorConfig(_Section):
    """How the RL-enhanced executor wraps its base schedule."""

    base: Literal["twap", "vwap"] = "twap"
    base_style: Literal["passive", "aggressive"] = Field(
        "passive", description="passive: slices join the near touch, cross only when behind"
    )
    slices: int = Field(10, ge=1, description="slices of the base schedule over the horizon")
    decision_interval_steps: int = Field(5, ge=1, description="steps between agent decisions")
    decision_interval_secs: float = Field(
        5.0,
        gt=0.0,
        description="the public API (rlexec.Agent): wall-clock seconds between agent decisions "
        "(5 steps of the equity simulator's 1 s)",
    )


SeedBandName = Literal["training", "validation", "evaluation"]
SEED_BANDS: tuple[SeedBandName, ...] = ("training", "validation", "evaluation")


class EvaluationConfig(_Section):
    seeds: int = Field(1000, ge=2, description="paired held-out episodes per evaluation")
    first_seed: int = Field(
        1_000_000_000, ge=0, description="evaluation seeds start here; training never uses them"
    )
    validation_first_seed: int = Field(
        900_000_000,
        ge=1,
        description="validation and promotion seeds start here (training stops below them)",
    )
    validation_seeds: int = Field(
        200, ge=2, description="paired seeds that select the best policy during training"
    )
    promotion_seeds: int = Field(
        500,
        ge=2,
        description="fresh paired seeds that confirm the best policy before promotion (each "
        "run of an agent on a block no earlier verdict of it used)",
    )
    validate_every: int = Field(
        1000, ge=0, description="episodes between validations (0: never validate or promote)"
    )

    def seed_band(self, seed: int) -> SeedBandName:
        """The band a seed belongs to, the one rule for every seed: ``training`` below
        ``validation_first_seed``, ``validation`` (validation and promotion seeds) from there
        up to ``first_seed``, ``evaluation`` from ``first_seed`` on (a recorded market
        replays each band's own time range: ``rlexec.training.markets.recorded_split``)."""
        if seed < self.validation_first_seed:
            return "training"
        return "validation" if seed < self.first_seed else "evaluation"

    @model_validator(mode="after")
    def _validation_below_evaluation(self) -> Self:
        end = self.validation_first_seed + self.validation_seeds + self.promotion_seeds
        if end > self.first_seed:
            raise ValueError(
                f"validation seeds {self.validation_first_seed}..{end - 1} overlap the "
                f"evaluation seeds from first_seed = {self.first_seed}"
            )
        return self


class RlExecutionConfig(_Section):
    enabled: bool = True
    mode: AgentMode = AgentMode.TRAINING
    q_learning: QLearningConfig = QLearningConfig()
    state: StateConfig = StateConfig()
    reward: RewardConfig = RewardConfig()
    replay_buffer: ReplayBufferConfig = ReplayBufferConfig()
    persistence: PersistenceConfig = PersistenceConfig()
    database: DatabaseConfig = DatabaseConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    executor: ExecutorConfig = ExecutorConfig()
    evaluation: EvaluationConfig = EvaluationConfig()


class Config(_Section):
    rl_execution: RlExecutionConfig = RlExecutionConfig()


# Where a key's value came from: key path (("rl_execution", "q_learning", "alpha")) -> the
# environment variable that set it. Keys not in it came from the file (``source``).
Origins = Mapping[tuple[str, ...], str]


def parse_config(
    data: Mapping[str, Any], source: str = "config", origins: Origins | None = None
) -> Config:
    """Validate a mapping shaped like the TOML file; errors name the key path and where the
    value came from (``source``, or the environment variable in ``origins``)."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, origins or {})) from None


def override(config: Config, section: str, **values: Any) -> Config:
    """``config`` with keys of ``[rl_execution.<section>]`` replaced, validated again (the
    CLI's ``--database-url`` and ``--market``); values are taken as they are."""
    data = config.model_dump(mode="python")
    data[ROOT_SECTION][section].update(values)
    return parse_config(data, source="command-line options")


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    required: bool = False,
) -> Config:
    """Read the TOML file (``path``, else ``$RLEXEC_CONFIG``, else the default path) and apply
    RLEXEC_* overrides. A missing default file means defaults; a missing named file is an error.
    (A mapping shaped like the file: ``parse_config``.)"""
    if path is not None and not isinstance(path, str | os.PathLike):
        raise ConfigError(
            f"path = {path!r:.60}: expected the path of a TOML config file (str or Path); "
            "for a mapping shaped like the file use rlexec.parse_config"
        )
    environ = os.environ if env is None else env
    named = path if path is not None else environ.get(ENV_CONFIG_FILE)
    file_path = Path(named) if named is not None else DEFAULT_CONFIG_PATH
    data: dict[str, Any] = {}
    if file_path.exists() or named is not None or required:
        try:
            data = read_toml(file_path)
        except ConfigError as exc:
            if path is None and named is not None:  # named by the variable: say so
                raise ConfigError(f"{exc} (from {ENV_CONFIG_FILE}={named})") from None
            raise
    origins = apply_env_overrides(data, environ)
    return parse_config(data, source=str(file_path), origins=origins)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def apply_env_overrides(
    data: dict[str, Any], environ: Mapping[str, str]
) -> dict[tuple[str, ...], str]:
    """Merge RLEXEC_* variables into ``data`` (in place) under ``[rl_execution]``; returns
    which key path each variable set (for error messages)."""
    root = data.setdefault(ROOT_SECTION, {})
    if not isinstance(root, dict):
        raise ConfigError(f"{ROOT_SECTION}: expected a table, got {_shown(root)}")
    origins: dict[tuple[str, ...], str] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_FILE:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(parts):
            raise ConfigError(f"environment variable {name}: empty key part")
        text = _check_env_path(name, parts)
        target = root
        for part in parts[:-1]:
            node = target.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name}: {part} is not a table")
            target = node
        raw = environ[name]
        target[parts[-1]] = raw if text else _parse_scalar(raw)
        origins[(ROOT_SECTION, *parts)] = name
    return origins


def _check_env_path(name: str, parts: list[str]) -> bool:
    """Check that ``parts`` names a key; returns whether it is a text key (taken verbatim)."""
    model: type[BaseModel] = RlExecutionConfig
    annotation: Any = None
    for depth, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            where = ".".join([ROOT_SECTION, *parts[:depth]])
            raise ConfigError(
                f"environment variable {name}: {where} has no key {part!r} "
                f"(expected one of: {', '.join(sorted(fields))})"
            )
        annotation = fields[part].annotation
        if depth < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                raise ConfigError(f"environment variable {name}: {part} is not a section")
            model = annotation
    return annotation in (str, str | None)


def _parse_scalar(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _shown(value: Any) -> str:
    """A value as an error message quotes it: repr, passwords masked, long ones cut."""
    text = mask_passwords(repr(value))
    return text if len(text) <= 200 else text[:197] + "..."


def _describe(exc: ValidationError, source: str, origins: Origins) -> str:
    lines = []
    from_file = False
    for error in exc.errors():
        loc = tuple(str(p) for p in error["loc"])
        path = ".".join(loc) or "(top level)"
        variable = _origin(loc, origins)
        from_file = from_file or variable is None
        where = f" (environment variable {variable})" if variable else ""
        if error["type"] == "extra_forbidden":
            lines.append(
                f"{path}{where}: unknown key (check the spelling; {_known_keys(error['loc'])})"
            )
            continue
        value = error.get("input")
        shown = "missing" if error["type"] == "missing" else _shown(value)
        message = mask_passwords(str(error["msg"]).removeprefix("Value error, "))
        lines.append(f"{path} = {shown}{where}: {message}")
    plural = "s" if len(lines) > 1 else ""
    place = f" in {source}" if from_file else ""
    return f"invalid configuration{place} ({len(lines)} error{plural}): " + "; ".join(lines)


def _origin(loc: tuple[str, ...], origins: Origins) -> str | None:
    """The environment variable that set the key at ``loc`` or one of its parents."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    return None


def _known_keys(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        annotation = model.model_fields.get(str(part))
        if annotation is None or not isinstance(annotation.annotation, type):
            return "expected a known key"
        if not issubclass(annotation.annotation, BaseModel):
            return "expected a known key"
        model = annotation.annotation
    return "expected one of: " + ", ".join(sorted(model.model_fields))
