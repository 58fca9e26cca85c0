"""The write-behind stores a test has loaded, so that fixtures can stop the ones it left open
(a failed assertion before ``close()``, or a test that forgot it) before they drop its
database. A writer thread left on a dropped PostgreSQL database probes it for the rest of the
run and logs "store still down ... does not exist" into streams pytest has closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rlexec.store.write_behind import AgentStore, LoadResult

_loaded: list[AgentStore] = []


def stop_open_stores() -> None:
    """Stop the writer thread (its engine disposed) of every store loaded since the test began
    and not closed; what such a store had not flushed is lost, as after a crash."""
    while _loaded:
        _loaded.pop().writer.stop()


@pytest.fixture(autouse=True)
def open_stores(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[AgentStore]]:
    """Records every ``AgentStore.load()`` of the test; at its end (passed or failed) stops
    the stores still open. The database fixtures also stop them before a drop."""
    load = AgentStore.load

    async def tracked(self: AgentStore) -> LoadResult:
        _loaded.append(self)
        return await load(self)

    monkeypatch.setattr(AgentStore, "load", tracked)
    try:
        yield _loaded
    finally:
        stop_open_stores()
