"""Literals a regular expression requires, and one regex for many literals: cheap tests that rule out the costly
patterns (line rules, notice lexicons) on text that cannot match them.

:func:`needles` reads a compiled pattern's parse tree for substrings one of which every match contains;
:func:`may_contain` tests them (case-insensitive ones against :func:`fold` of the text, folded the way ``re``
folds case); :func:`any_of` compiles many literals into one trie-shaped regex (one pass over a text instead of
one ``str.find`` per literal); :func:`finder` builds an Aho-Corasick automaton for many literals sought in long
texts (a page's text): one pass in compiled code, about twenty times cheaper on real pages than the trie regex,
which tries a branch at nearly every character.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from re import _constants as sre  # the regex parser's node types (CPython 3.11+)
from re import _parser as sre_parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ahocorasick_rs import AhoCorasick

Needle = tuple[str, bool]  # a substring, and whether it is sought in the case-folded text
# Characters re's case-insensitive matching equates with an ASCII letter that str.lower() does not map to it
# (re._casefix, and U+0130 whose full lower-case form is two characters): folded like re folds them.
_FOLD_FIXES = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


def fold(text: str) -> str:
    """``text`` as the case-insensitive needles of :func:`needles` are sought in."""
    if "\u0130" in text or "\u0131" in text or "\u017f" in text:
        text = text.translate(_FOLD_FIXES)
    return text.lower()


def _foldable(char: str) -> bool:
    """A character whose case-insensitive matches all fold to it: ASCII, or without case (©, digits, -)."""
    return char.isascii() or char.lower() == char.upper() == char


def _literal_run(run: list[str], ignorecase: bool) -> tuple[Needle, ...] | None:
    return ((("".join(run).lower() if ignorecase else "".join(run)), ignorecase),) if run else None


def _required(items: list[Any], ignorecase: bool) -> tuple[Needle, ...] | None:
    """Needles one of which any match of the parsed sequence ``items`` contains (the most selective found)."""
    best: tuple[Needle, ...] | None = None

    def consider(found: tuple[Needle, ...] | None) -> None:
        nonlocal best
        rank = (lambda n: (min(len(text) for text, _ in n), -len(n))) if found else None
        if found and rank and (best is None or rank(found) > rank(best)):
            best = found

    run: list[str] = []
    for op, arg in items:
        if op is sre.LITERAL and (not ignorecase or _foldable(chr(arg))):
            run.append(chr(arg))
            continue
        consider(_literal_run(run, ignorecase))
        run = []
        if op is sre.SUBPATTERN:  # (group, added flags, removed flags, content)
            scoped = (ignorecase or bool(arg[1] & re.IGNORECASE)) and not arg[2] & re.IGNORECASE
            consider(_required(list(arg[3]), scoped))
        elif op is sre.BRANCH:
            branches = [_required(list(branch), ignorecase) for branch in arg[1]]
            if all(branches):
                consider(tuple(needle for branch in branches if branch for needle in branch))
        elif op is sre.ASSERT:  # a positive lookaround: what it sees is in the text too
            consider(_required(list(arg[1]), ignorecase))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT) and arg[0] >= 1:
            consider(_required(list(arg[2]), ignorecase))
        elif op is sre.ATOMIC_GROUP:
            consider(_required(list(arg), ignorecase))
    consider(_literal_run(run, ignorecase))
    return best


@dataclass(frozen=True)
class Needles:
    """Substrings one of which every match of a pattern contains, compiled for one search each way."""

    found: tuple[Needle, ...]
    folded: re.Pattern[str] | None  # the case-insensitive ones, sought in fold(text)
    exact: re.Pattern[str] | None  # the case-sensitive ones, sought in the text as it is

    def __len__(self) -> int:
        return len(self.found)


@lru_cache(maxsize=4096)
def needles(pattern: re.Pattern[str]) -> Needles | None:
    """Substrings one of which every text ``pattern`` matches contains, or None if none is known: a text without
    any of them cannot match, so a rule whose needles are all absent from a page's text is not tried on its lines.
    Case-insensitive needles are lower-case ASCII (or caseless) and sought in :func:`fold` of the text."""
    try:
        parsed = sre_parse.parse(pattern.pattern, pattern.flags)
    except (re.error, RecursionError):
        return None
    found = _required(list(parsed), bool(pattern.flags & re.IGNORECASE))
    return None if found is None else _compiled(found)


def _compiled(found: tuple[Needle, ...]) -> Needles:
    folded = sorted({needle for needle, ci in found if ci})
    exact = sorted({needle for needle, ci in found if not ci})
    return Needles(found, any_of(folded) if folded else None, any_of(exact) if exact else None)


@dataclass(frozen=True)
class NeedleIndex:
    """The needles of many patterns (or of many groups of patterns) in two Aho-Corasick automata: the
    case-insensitive ones, sought in :func:`fold` of a text, and the exact ones; each needle carries the bit mask of
    the patterns requiring it, and ``always`` marks those whose needles are unknown (None: they may match anything).
    One pass of each automaton tells which patterns a text, or each line of a text, may match."""

    folded: AhoCorasick | None
    folded_masks: tuple[int, ...]
    exact: AhoCorasick | None
    exact_masks: tuple[int, ...]
    always: int

    @classmethod
    def of(cls, sets: Sequence[Sequence[Needle] | None]) -> NeedleIndex:
        """One bit per item of ``sets``: the needles of one pattern (``Needles.found``), or of a group of patterns
        (any of which may match where one of them occurs), or None (unknown)."""
        masks: tuple[dict[str, int], dict[str, int]] = ({}, {})  # folded, exact
        always = 0
        for i, found in enumerate(sets):
            if found is None:
                always |= 1 << i
                continue
            for needle, folded in found:
                masks[0 if folded else 1][needle] = masks[0 if folded else 1].get(needle, 0) | 1 << i
        folded_needles, exact_needles = sorted(masks[0]), sorted(masks[1])
        return cls(
            finder(folded_needles) if folded_needles else None,
            tuple(masks[0][needle] for needle in folded_needles),
            finder(exact_needles) if exact_needles else None,
            tuple(masks[1][needle] for needle in exact_needles),
            always,
        )

    def _matches(self, text: str, folded: str | None) -> list[tuple[int, int]]:
        """(start, mask) of every occurrence of every needle (overlapping ones too: "ai" and "ia" in "aia")."""
        found = []
        if self.folded is not None:
            haystack = fold(text) if folded is None else folded
            found += [
                (at, self.folded_masks[i])
                for i, at, _ in self.folded.find_matches_as_indexes(haystack, overlapping=True)
            ]
        if self.exact is not None:
            found += [
                (at, self.exact_masks[i]) for i, at, _ in self.exact.find_matches_as_indexes(text, overlapping=True)
            ]
        return found

    def mask(self, text: str, folded: str | None = None) -> int:
        """The patterns ``text`` may match (``folded``: its :func:`fold`, if the caller has it)."""
        mask = self.always
        for _, found in self._matches(text, folded):
            mask |= found
        return mask

    def line_masks(self, text: str, lines: Sequence[str]) -> list[int]:
        """For each of ``text.splitlines()`` (``lines``), the patterns it may match (fold keeps every character's
        offset: once İ, ı and ſ are mapped, every character lowers to one)."""
        masks = [self.always] * len(lines)
        if self.folded is None and self.exact is None:
            return masks
        starts = list(accumulate(map(len, text.splitlines(keepends=True)), initial=0))
        for at, found in self._matches(text, None):
            masks[bisect_right(starts, at) - 1] |= found
        return masks


def may_contain(found: Needles | None, text: str, folded: str) -> bool:
    """Whether ``text`` (``folded`` is :func:`fold` of it) holds one of the needles (None: unknown, so maybe)."""
    return (
        found is None
        or (found.folded is not None and found.folded.search(folded) is not None)
        or (found.exact is not None and found.exact.search(text) is not None)
    )


def finder(literals: Sequence[str]) -> AhoCorasick:
    """An Aho-Corasick automaton finding ``literals`` (exactly, case-sensitive) in a text in one pass; its
    ``find_matches_as_indexes(text)`` gives (literal index, start, end) in code points, left to right, without
    overlaps (a text holding a literal always yields at least one match), or every occurrence of every literal
    with ``overlapping=True``. A DFA: built once per literal set, it searches about three times faster than the
    default NFA on real pages (short literals such as "(" leave its prefilter little to skip)."""
    from ahocorasick_rs import AhoCorasick, Implementation

    return AhoCorasick(list(literals), implementation=Implementation.DFA)


def any_of(literals: Sequence[str]) -> re.Pattern[str]:
    """One regex matching any of ``literals`` (exactly, case-sensitive), shaped as a trie: at each position of a
    text the regex engine follows one branch per character instead of trying every literal."""
    trie: dict[str, Any] = {}
    for literal in literals:
        node = trie
        for char in literal:
            node = node.setdefault(char, {})
        node[""] = {}
    return re.compile(_trie_source(trie) if trie else r"(?!)")


def _trie_source(node: dict[str, Any]) -> str:
    branches = [re.escape(char) + _trie_source(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    source = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{source})?" if "" in node else source
