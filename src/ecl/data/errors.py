"""`DataError` and the problem collector shared by every dataset reader."""

from __future__ import annotations

__all__ = ["DataError", "Problems", "SHOWN_PROBLEMS", "format_problems"]

#: problems listed in one message; the rest are counted
SHOWN_PROBLEMS = 20


class DataError(ValueError):
    """Unusable data; the message names the file and, where there is one, the row/line."""


def format_problems(items: list[str], where: str) -> str:
    """The one message of `ecl train` and `ecl data check` for the problems found in `where`.

    One problem: that problem's own line. More: "N problems found in WHERE:", then one indented
    line per problem (the first `SHOWN_PROBLEMS`), then "... and K more problems".
    """
    if len(items) == 1:
        return items[0]
    lines = [f"{len(items)} problems found in {where}:"] + [f"  {item}" for item in items[:SHOWN_PROBLEMS]]
    if len(items) > SHOWN_PROBLEMS:
        lines.append(f"  ... and {len(items) - SHOWN_PROBLEMS} more problems")
    return "\n".join(lines)


class Problems:
    """Where readers report bad rows.

    In build mode (`collect=False`) the first problem raises `DataError` at once; in collect mode
    (`collect=True`, used by `build_datasets` and `check_dataset`) problems are recorded, the row is
    skipped and the reader carries on so that one message lists them all (`raise_if_any`).
    """

    def __init__(self, collect: bool = False) -> None:
        self.collect = collect
        self.items: list[str] = []

    def add(self, message: str) -> None:
        """Report one problem: raise (build mode) or record it (check mode)."""
        if not self.collect:
            raise DataError(message)
        self.items.append(message)

    def raise_if_any(self, where: str) -> None:
        """One DataError listing every recorded problem (`format_problems`); nothing when there are none."""
        if self.items:
            raise DataError(format_problems(self.items, where))
