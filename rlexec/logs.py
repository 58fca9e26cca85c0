"""Log lines of the applications (CLI, worker processes): level and time on every line, except
notices (``log.warning(..., extra=NOTICE)``: a normal event the user should see, such as a new
database created), which read as the message alone."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOTICE = {"notice": True}  # ``extra`` of a record that is a notice, not a warning


class _Formatter(logging.Formatter):
    """``LOG_FORMAT``; a notice is its message alone."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "notice", False):
            return record.getMessage()
        return super().format(record)


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
    handler.setFormatter(_Formatter(LOG_FORMAT))
    handler._rlexec = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
