"""Small helpers for the sentences rlexec prints."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """``1 episode``, ``5 episodes``, ``12,000 episodes``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


__all__ = ["plural"]
