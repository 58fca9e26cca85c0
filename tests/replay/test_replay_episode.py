"""``replay episode``: stored training episodes re-simulate identically; a changed seed is
reported at the first differing decision (append-only: tests/store/test_audit_append_only.py)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from rlexec.replay.episode import compare, format_result, replay_episode
from rlexec.store.engine import create_engine, session_factory
from rlexec.store.repositories import DecisionRepository, EpisodeRepository
from tests.replay.conftest import TrainedStore


async def _episode_ids(url: str) -> list[str]:
    engine = create_engine(url, pool=False)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT episode_id FROM episodes ORDER BY seed"))
            return [r[0] for r in rows]
    finally:
        await engine.dispose()


async def test_stored_episodes_replay_identically(trained: TrainedStore) -> None:
    ids = await _episode_ids(trained.url)
    assert len(ids) == trained.episodes
    engine = create_engine(trained.url)
    rederived = 0
    try:
        for episode_id in ids:
            result = await replay_episode(engine, episode_id, trained.config)
            assert result.identical, format_result(result)
            assert result.decisions_replayed == result.decisions_stored > 0
            assert result.explored_from_log == 0  # training episodes: every draw re-derived
            rederived += result.explored_rederived
    finally:
        await engine.dispose()
    assert rederived > 0  # epsilon starts at 0.3: explored decisions were checked too


async def test_a_different_logged_action_is_reported(trained: TrainedStore) -> None:
    import dataclasses

    from rlexec.replay.episode import ReplayAgent
    from rlexec.rl.types import ExecutionAction

    ids = await _episode_ids(trained.url)
    engine = create_engine(trained.url)
    try:
        async with session_factory(engine)() as session:
            decisions = await DecisionRepository(session).for_episode(ids[0])
    finally:
        await engine.dispose()
    first = decisions[0]
    other = next(a for a in ExecutionAction if a.label != first.action)
    agent = ReplayAgent(trained.config, [dataclasses.replace(first, action=other.label)])
    agent.decide_index(first.state_index, None, 0.999)  # 0.999 >= epsilon: a greedy draw
    assert agent.inconsistent is not None and agent.inconsistent.seq == first.seq


async def test_episode_stores_seed_config_hash_and_every_audit_field(
    trained: TrainedStore,
) -> None:
    from rlexec.agent import config_hash

    ids = await _episode_ids(trained.url)
    engine = create_engine(trained.url)
    try:
        async with session_factory(engine)() as session:
            episode = await EpisodeRepository(session).get(ids[1])
            decisions = await DecisionRepository(session).for_episode(ids[1])
    finally:
        await engine.dispose()
    assert episode is not None
    assert episode.seed == 1  # the second training seed
    assert episode.config_hash == config_hash(trained.config)
    assert [d.seq for d in decisions] == list(range(1, len(decisions) + 1))
    for d in decisions:
        assert 0 < d.action_probability <= 1
        assert d.state_key and d.epsilon > 0
        assert len(d.q_values) == 6


async def test_a_changed_seed_is_reported_at_the_first_differing_decision(
    trained: TrainedStore,
) -> None:
    import uuid

    stored_id = (await _episode_ids(trained.url))[0]
    engine = create_engine(trained.url)
    try:
        # the audit trail is append-only: store a copy of the episode with another seed
        episode_id = str(uuid.uuid4())
        async with session_factory(engine)() as session, session.begin():
            episode = await EpisodeRepository(session).get(stored_id)
            decisions = await DecisionRepository(session).for_episode(stored_id)
            assert episode is not None
            copy = dataclasses.replace(episode, episode_id=episode_id, seed=episode.seed + 17)
            agent_id = await session.scalar(
                sa.text("SELECT agent_id FROM episodes WHERE episode_id = :e"), {"e": stored_id}
            )
            await EpisodeRepository(session).append(agent_id, [copy])
            await DecisionRepository(session).append(
                agent_id, [dataclasses.replace(d, episode_id=episode_id) for d in decisions]
            )
        result = await replay_episode(engine, episode_id, trained.config)
    finally:
        await engine.dispose()
    assert not result.identical
    assert result.mismatch is not None and result.mismatch.seq is not None
    assert "MISMATCH at decision seq" in format_result(result)


async def test_compare_names_the_first_differing_field(trained: TrainedStore) -> None:
    episode_id = (await _episode_ids(trained.url))[0]
    engine = create_engine(trained.url)
    try:
        async with session_factory(engine)() as session:
            episode = await EpisodeRepository(session).get(episode_id)
            stored = await DecisionRepository(session).for_episode(episode_id)
    finally:
        await engine.dispose()
    assert episode is not None
    assert compare(stored, stored, episode, episode) is None
    changed = list(stored)
    changed[2] = dataclasses.replace(changed[2], filled_quantity=stored[2].filled_quantity + 1)
    mismatch = compare(stored, changed, episode, episode)
    assert mismatch is not None and (mismatch.seq, mismatch.field) == (3, "filled_quantity")
    other = dataclasses.replace(episode, implementation_shortfall_bps=99.0)
    mismatch = compare(stored, stored, episode, other)
    assert mismatch is not None and mismatch.field == "implementation_shortfall_bps"
    assert compare(stored, stored[:-1], episode, episode) is not None


async def test_evaluation_episodes_replay_from_their_snapshot(trained: TrainedStore) -> None:
    """An evaluation episode's greedy actions are recomputed with the rule from the snapshot
    it ran with (Q-values, visits and variances as stored) and the logged schedule action."""
    from rlexec.training.evaluate import evaluate_agent

    await evaluate_agent(trained.config, "a1", seeds=2)
    engine = create_engine(trained.url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT episode_id FROM episodes WHERE mode = 'evaluation' "
                    "AND snapshot_id IS NOT NULL AND agent_id IS NOT NULL"
                )
            )
            ids = [r[0] for r in rows]
        assert ids
        for episode_id in ids:
            result = await replay_episode(engine, episode_id, trained.config)
            assert result.identical, format_result(result)
            assert result.explored_rederived == result.explored_from_log == 0  # greedy
    finally:
        await engine.dispose()
