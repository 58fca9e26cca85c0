"""Log lines of the applications (CLI, worker processes): level and time on every line."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int = logging.WARNING) -> None:
    """Send ``rlexec`` log records to stderr with time and level (once per process)."""
    root = logging.getLogger("rlexec")
    if any(getattr(h, "_rlexec", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler._rlexec = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
