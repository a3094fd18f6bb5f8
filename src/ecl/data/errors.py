"""`DataError` and the problem collector shared by every dataset reader."""

from __future__ import annotations

__all__ = ["DataError", "Problems"]


class DataError(ValueError):
    """Unusable data; the message names the file and, where there is one, the row/line."""


class Problems:
    """Where readers report bad rows.

    In build mode (`collect=False`) the first problem raises `DataError` at once; in check mode
    (`collect=True`, used by `check_dataset`) problems are recorded, the row is skipped and the
    reader carries on so that one run lists them all.
    """

    def __init__(self, collect: bool = False) -> None:
        self.collect = collect
        self.items: list[str] = []

    def add(self, message: str) -> None:
        """Report one problem: raise (build mode) or record it (check mode)."""
        if not self.collect:
            raise DataError(message)
        self.items.append(message)
