"""Log lines of the applications (CLI, worker processes): level and time on every line."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _CurrentStderr(logging.StreamHandler[TextIO]):
    """Writes to ``sys.stderr`` as it is when a record comes (tools and tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: int = logging.WARNING) -> None:
    """Send ``rlexec`` log records to stderr with time and level (once per process)."""
    root = logging.getLogger("rlexec")
    if any(getattr(h, "_rlexec", False) for h in root.handlers):
        return
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler._rlexec = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
