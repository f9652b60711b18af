"""Line diffs of clean text, structured for both inline and side-by-side display (difflib)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class DiffRow:
    """One row of a side-by-side diff. ``op``: equal | replace | delete | insert (a side is None if absent)."""

    op: str
    a_line: int | None
    a_text: str | None
    b_line: int | None
    b_text: str | None


@dataclass(frozen=True)
class TextDiff:
    rows: list[DiffRow]
    added: int
    removed: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def diff_lines(a: str, b: str) -> TextDiff:
    """Diff two texts line by line; replaced blocks are paired row by row, the rest become inserts/deletes."""
    a_lines, b_lines = a.splitlines(), b.splitlines()
    rows: list[DiffRow] = []
    added = removed = 0
    matcher = difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        removed += i2 - i1 if op != "equal" else 0
        added += j2 - j1 if op != "equal" else 0
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            left = i < i2
            right = j < j2
            row_op = op if op == "equal" or (left and right) else ("delete" if left else "insert")
            rows.append(
                DiffRow(
                    row_op,
                    i + 1 if left else None,
                    a_lines[i] if left else None,
                    j + 1 if right else None,
                    b_lines[j] if right else None,
                )
            )
    return TextDiff(rows, added, removed)


def unified(a: str, b: str, a_label: str, b_label: str, context: int = 3) -> str:
    """The same diff as unified diff text (for the CLI)."""
    return "".join(
        difflib.unified_diff(
            [line + "\n" for line in a.splitlines()],
            [line + "\n" for line in b.splitlines()],
            a_label,
            b_label,
            n=context,
        )
    )
