"""The fresh block of promotion seeds: the first block that no earlier verdict used."""

from __future__ import annotations

from rlexec.store.promotions import fresh_seed_block


def test_the_first_verdict_takes_the_block_at_the_start() -> None:
    assert fresh_seed_block(100, 10, 1000, []) == range(100, 110)


def test_a_used_block_is_skipped_whatever_the_order_of_the_rows() -> None:
    used = [range(110, 120), range(100, 110), range(5, 50)]  # newest first, and one below
    assert fresh_seed_block(100, 10, 1000, used) == range(120, 130)


def test_a_partial_overlap_moves_the_block_past_it() -> None:
    # an engine's validation on seeds 105-114 shares seeds with the first block
    assert fresh_seed_block(100, 10, 1000, [range(105, 115)]) == range(115, 125)
    # a gap too small for a whole block is not used
    assert fresh_seed_block(100, 10, 1000, [range(100, 110), range(115, 200)]) == range(200, 210)


def test_a_gap_large_enough_is_used() -> None:
    assert fresh_seed_block(100, 10, 1000, [range(100, 110), range(125, 200)]) == range(110, 120)


def test_no_room_below_the_end_gives_none() -> None:
    assert fresh_seed_block(100, 10, 120, [range(100, 110), range(110, 120)]) is None
    assert fresh_seed_block(100, 10, 120, [range(100, 110)]) == range(110, 120)  # ends at 120
