"""The archive checker as a test assertion: call it at the end of every fault test."""

from __future__ import annotations

from feedvault.archive.check import Problem, check_archive
from feedvault.store.backends import Store


def assert_archive_consistent(store: Store, *, allow: tuple[str, ...] = ()) -> None:
    """Fail with every problem :func:`feedvault.archive.check.check_archive` finds (but the kinds in ``allow``)."""
    problems: list[Problem] = [p for p in check_archive(store) if p.kind not in allow]
    assert not problems, f"{len(problems)} problem(s) in {store.uri}:\n" + "\n".join(map(str, problems))
