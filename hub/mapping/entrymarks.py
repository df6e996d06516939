"""Marks the engine puts on a Bundle entry for the store (an extension of the entry, not of the resource), and
their removal when the store reads them: :mod:`hub.mapping.ifabsent`, :mod:`hub.mapping.moved`."""

from __future__ import annotations

from typing import Any


def take_mark(entry: dict[str, Any], url: str) -> bool:
    """Whether the Bundle entry carries the mark ``url``; the mark is removed (the entry's other extensions stay)."""
    extensions = entry.get("extension")
    if not extensions:
        return False
    rest = [e for e in extensions if e.get("url") != url]
    if len(rest) == len(extensions):
        return False
    if rest:
        entry["extension"] = rest
    else:
        del entry["extension"]
    return True


__all__ = ["take_mark"]
