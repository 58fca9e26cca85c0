"""Processes a test starts (``rlexec train``, queue workers): any still running when the test
ends, passed or failed, is killed, so that a child of a failed or timed-out test does not run
(and load the machine) for the rest of the suite."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

_started: list[subprocess.Popen[bytes]] = []


def start(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(args, **kwargs)``, killed at the end of the test if still running."""
    proc: subprocess.Popen[bytes] = subprocess.Popen(args, **kwargs)
    _started.append(proc)
    return proc


@pytest.fixture(autouse=True)
def no_child_left() -> Iterator[None]:
    try:
        yield
    finally:
        while _started:
            proc = _started.pop()
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
