"""Stored keys map to cells in either spelling: the 10-part text, or the older 8-part text
(own orders 0, schedule 0), as ``table_from_entries`` reads them."""

from __future__ import annotations

from rlexec.config import StateConfig
from rlexec.rl.state import StateDiscretizer, StateKey
from rlexec.store.table_sync import StateKeys


def test_older_eight_part_keys_find_their_cell() -> None:
    discretizer = StateDiscretizer(StateConfig())
    keys = StateKeys(discretizer, "keys")
    key = StateKey(2, 3, 1, 0, 0, 1)  # own orders 0, schedule 0
    assert keys.state_index(key.to_text()) == discretizer.index(key)
    assert keys.state_index("r2.t3.s1.i0.h0.u1.v0.q0") == discretizer.index(key)
    assert keys.state_index("r2.t3.s1.i0.h0.u1.v0.q0.o2.l1") == discretizer.index(
        StateKey(2, 3, 1, 0, 0, 1, own_orders=2, schedule=1)
    )
    assert keys.state_index("r9.t3.s1.i0.h0.u1.v0.q0") is None  # not of this config
    assert keys.state_index("not a key") is None
