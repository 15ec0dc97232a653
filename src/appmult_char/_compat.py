"""Deprecated spellings of renamed public names, kept working with a warning."""

from __future__ import annotations

import warnings

__all__ = ["renamed_attribute"]


def renamed_attribute(new: str, old: str) -> property:
    """A read-only property `old` that warns and returns attribute `new`."""

    def get(self):
        warnings.warn(f"{type(self).__name__}.{old} is deprecated; use .{new}", DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    return property(get, doc=f"Deprecated spelling of `{new}`.")
