"""Plain-language rights notices, found by meaning in any language we hold a lexicon for.

The lexicons are data, one file per language (``feedvault/rules/notices/<lang>.yaml``: use, reproduction,
prohibition, reservation, condition, subject, label and attribution terms); the decision is
:func:`feedvault.permission.decisions.notice_kind`. This module only reads sentences: it masks quoted passages (a quote
is never a notice), splits a line into sentences and tells the decision which kinds of terms each contains.
Every notice found carries its sentence as evidence.

Used twice per page: on the article text by the cleaner (notices are removed from the clean text, with family
``rights`` and reason ``notice``) and on the whole page's text by the signal scan (footers included).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from ahocorasick_rs import AhoCorasick

from feedvault.cleaning.literals import NeedleIndex, Needles, finder, fold, may_contain, needles
from feedvault.permission.decisions import NoticeTerms, notice_kind

NOTICES_DIR = Path(__file__).resolve().parent.parent / "rules" / "notices"
CATEGORIES = ("use", "reproduction", "prohibition", "reservation", "condition", "subject", "label", "attribution")
# plus ``anchors``: lower-case substrings one of which every notice of the language contains
LABEL_MAX_WORDS = 6  # "No AI training.", "Keine Nutzung für KI-Training." : a label, not a sentence of news
LEADING_WORDS = 2  # a use "leads" the sentence when it starts within its first two words
LEFTOVER_MAX_WORDS = 4  # what is left of a line around its notices, at most this long, goes with them

_OPENING = {"“": "”", "„": "“", "«": "»", '"': '"'}
_OPENERS = re.compile("[" + "".join(_OPENING) + "]")
# A sentence ends at . ! ? … (and closing quotes/brackets) before a space and a capital, quote or bracket:
# "Art. 4(3)" and "z. B. der" do not end one.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’»)\]]*\s+(?=[^\s\da-zà-ÿ])")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Lexicon:
    language: str
    name: str
    patterns: dict[str, re.Pattern[str]]
    anchors: tuple[str, ...]
    examples: dict[str, Any]
    needles: dict[str, Needles | None] = field(default_factory=dict, compare=False)  # by category

    def __post_init__(self) -> None:
        self.needles.update({category: needles(pattern) for category, pattern in self.patterns.items()})


@dataclass(frozen=True)
class Notice:
    kind: str  # ai-reservation | rights-notice
    sentence: str  # the evidence: the sentence as it stands on the page
    rule: str  # notice.<language>
    start: int  # where the sentence is in its line
    end: int


def _compile(terms: list[str], source: Path, category: str) -> re.Pattern[str]:
    if not terms or not all(isinstance(term, str) and term for term in terms):
        raise ValueError(
            f"{source}: {category!r} must be a non-empty list of regular expressions"
            " (quote terms YAML would read as booleans or numbers: 'no', 'on', '4')"
        )
    try:
        return re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{term})" for term in terms) + r")(?!\w)", re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"{source}: {category}: invalid pattern: {exc}") from exc


def load_lexicon(path: Path) -> Lexicon:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc}); quote terms that start with [ or contain ': '") from exc
    missing = [category for category in CATEGORIES if category not in data]
    if missing:
        raise ValueError(f"{path}: missing term lists {missing} (each of {CATEGORIES} is required)")
    patterns = {category: _compile(data[category], path, category) for category in CATEGORIES}
    anchors = data.get("anchors")
    if not anchors or not all(isinstance(a, str) and a and a == a.lower() for a in anchors):
        raise ValueError(f"{path}: 'anchors' must be a non-empty list of lower-case strings")
    language = str(data.get("language") or path.stem)
    return Lexicon(language, str(data.get("name") or language), patterns, tuple(anchors), data.get("examples") or {})


@lru_cache(maxsize=4)
def lexicons(notices_dir: Path = NOTICES_DIR) -> tuple[Lexicon, ...]:
    """Every language's lexicon, loaded once per process (English first: footers are often in English)."""
    found = [load_lexicon(path) for path in sorted(notices_dir.glob("*.yaml"))]
    return tuple(sorted(found, key=lambda lexicon: (lexicon.language != "en", lexicon.language)))


@lru_cache(maxsize=4)
def _anchors(notices_dir: Path = NOTICES_DIR) -> AhoCorasick:
    """Every language's anchors as one Aho-Corasick automaton (one pass over a page's text finds them all)."""
    return finder(sorted({anchor for lexicon in lexicons(notices_dir) for anchor in lexicon.anchors}))


@lru_cache(maxsize=4)
def _term_index(notices_dir: Path = NOTICES_DIR) -> NeedleIndex:
    """One bit per lexicon (in :func:`lexicons` order): the needles of its use and reproduction terms, one of which
    a sentence must hold for the lexicon to find a notice in it (see :func:`sentence_terms`)."""
    return NeedleIndex.of(
        [
            None if use is None or reproduction is None else (*use.found, *reproduction.found)
            for use, reproduction in (
                (lexicon.needles["use"], lexicon.needles["reproduction"]) for lexicon in lexicons(notices_dir)
            )
        ]
    )


def candidate_lines(lines: Sequence[str], notices_dir: Path = NOTICES_DIR) -> list[int]:
    """Indexes of the lines holding an anchor of some language (one Aho-Corasick pass over the whole text: reading
    every line of a page with every lexicon would cost as much as extracting the article)."""
    text = "\n".join(lines).lower()  # lower() never makes or removes a line break
    found: list[int] = []
    if text.count("\n") != len(lines) - 1:  # a line holding a break of its own: count line by line
        return [i for i, line in enumerate(lines) if _anchors(notices_dir).find_matches_as_indexes(line.lower())]
    index, counted = 0, 0
    for _, at, _ in _anchors(notices_dir).find_matches_as_indexes(text):  # in order; anchors hold no line break
        index += text.count("\n", counted, at)
        counted = at
        if not found or found[-1] != index:
            found.append(index)
    return found


def mask_quotes(line: str) -> str:
    """``line`` with the inside of every quotation blanked (same length): “...”, „...“, «...», "...".

    A quotation still open at the end of the line runs to its end (a quoted paragraph that goes on).
    """
    if _OPENERS.search(line) is None:
        return line
    parts: list[str] = []
    kept = seek = 0  # text is kept from ``kept`` on; the next quotation opens at ``seek`` or later
    while (opening := _OPENERS.search(line, seek)) is not None:
        start = opening.end()
        end = line.find(_OPENING[opening.group()], start)  # the closing mark stays, as the opening one
        end = len(line) if end < 0 else end
        parts += [line[kept:start], " " * (end - start)]
        kept, seek = end, end + 1
    parts.append(line[kept:])
    return "".join(parts)


def _sentences(masked: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for cut in _SENTENCE_END.finditer(masked):
        spans.append((start, cut.start() + len(cut.group().rstrip())))
        start = cut.end()
    spans.append((start, len(masked)))
    return [(a, b) for a, b in spans if masked[a:b].strip()]


def _leads(pattern: re.Pattern[str], sentence: str) -> bool:
    found = pattern.search(sentence)
    return found is not None and len(_WORD.findall(sentence[: found.start()])) < LEADING_WORDS


_NOTHING = NoticeTerms()


def sentence_terms(sentence: str, lexicon: Lexicon, folded: str | None = None) -> NoticeTerms:
    """Which kinds of terms of ``lexicon`` one (quote-masked) sentence contains (``folded``: its
    :func:`~feedvault.cleaning.literals.fold`, if the caller has it)."""
    p = lexicon.patterns
    folded = fold(sentence) if folded is None else folded
    use = may_contain(lexicon.needles["use"], sentence, folded) and p["use"].search(sentence) is not None
    if not use and not (
        may_contain(lexicon.needles["reproduction"], sentence, folded) and p["reproduction"].search(sentence)
    ):
        return _NOTHING  # most candidate sentences, in most languages: a few substring tests, no regex
    without_use = p["use"].sub(" ", sentence) if use else sentence  # "text" in "text and data mining" is no subject
    label = (
        use and p["label"].match(sentence.lstrip("([ ")) is not None and len(_WORD.findall(sentence)) <= LABEL_MAX_WORDS
    )
    return NoticeTerms(
        use=use,
        use_leads=use and _leads(p["use"], sentence),
        reproduction=p["reproduction"].search(sentence) is not None,
        reproduction_leads=_leads(p["reproduction"], sentence),
        prohibition=p["prohibition"].search(sentence) is not None,
        reservation=p["reservation"].search(sentence) is not None,
        condition=p["condition"].search(sentence) is not None,
        subject=p["subject"].search(without_use) is not None,
        label=label,
        attributed=p["attribution"].search(sentence) is not None,
    )


def _weight(sentence: str, lexicon: Lexicon) -> int:
    """How many of the sentence's words a lexicon recognises (tells close languages apart: ms and id)."""
    return sum(len(pattern.findall(sentence)) for pattern in lexicon.patterns.values())


def classify_sentence(sentence: str, notices_dir: Path = NOTICES_DIR) -> tuple[str, str] | None:
    """(kind, rule) of one sentence, or None. Each language judges it; of those that find a notice, the one that
    recognises most of its terms names it. Attribution vetoes a notice in the language that finds it."""
    verdicts = []
    folded = fold(sentence)
    may = _term_index(notices_dir).mask(sentence, folded)  # the lexicons whose use or reproduction terms may occur
    for i, lexicon in enumerate(lexicons(notices_dir)):
        if may >> i & 1 and (kind := notice_kind(sentence_terms(sentence, lexicon, folded))):
            verdicts.append((kind, lexicon))
    if not verdicts:
        return None
    kind, lexicon = (
        max(verdicts, key=lambda verdict: _weight(sentence, verdict[1])) if len(verdicts) > 1 else verdicts[0]
    )
    return kind, f"notice.{lexicon.language}"


def find_notices(line: str, notices_dir: Path = NOTICES_DIR) -> list[Notice]:
    """The notices in one line of text, each with its sentence."""
    if not candidate_lines([line], notices_dir):
        return []
    return _line_notices(line, notices_dir)


def scan_lines(lines: Sequence[str], notices_dir: Path = NOTICES_DIR) -> list[Notice]:
    """The notices in many lines (a whole page), in order."""
    return [n for i in candidate_lines(lines, notices_dir) for n in _line_notices(lines[i], notices_dir)]


def _line_notices(line: str, notices_dir: Path) -> list[Notice]:
    masked = mask_quotes(line)
    found = []
    for start, end in _sentences(masked):
        if verdict := classify_sentence(masked[start:end], notices_dir):
            found.append(Notice(verdict[0], line[start:end].strip(), verdict[1], start, end))
    return found


def cut_notices(text: str, notices_dir: Path = NOTICES_DIR) -> tuple[str, list[tuple[str, str]], list[Notice]]:
    """Remove notice sentences from ``text``: the kept text, the removed pieces as (text, rule) and the notices.

    What is left of a line around its notices (a label such as "Notice:" or "AI policy.") goes with them when it
    is at most ``LEFTOVER_MAX_WORDS`` words; longer leftovers are article text and stay.
    """
    kept: list[str] = []
    removed: list[tuple[str, str]] = []
    notices: list[Notice] = []
    lines = text.splitlines()
    candidates = set(candidate_lines(lines, notices_dir))
    for i, line in enumerate(lines):
        found = _line_notices(line, notices_dir) if i in candidates else []
        if not found:
            kept.append(line)
            continue
        notices += found
        rest, last = [], 0
        for notice in found:
            rest.append(line[last : notice.start])
            last = notice.end
        rest.append(line[last:])
        leftover = " ".join(" ".join(part.split()) for part in rest if part.strip())
        if leftover and len(_WORD.findall(leftover)) > LEFTOVER_MAX_WORDS:
            kept.append(leftover)
            removed += [(notice.sentence, notice.rule) for notice in found]
        else:
            removed.append((line.strip(), found[0].rule))
    return "\n".join(kept), removed, notices


def examples_markdown(notices_dir: Path = NOTICES_DIR) -> str:
    """The lexicons' examples as the Markdown table docs/PERMISSIONS.md shows (a test keeps the two identical)."""
    lines = ["| language | sentence | judged |", "|---|---|---|"]
    for lexicon in sorted(lexicons(notices_dir), key=lambda lexicon: lexicon.language):
        rows = [(s, kind) for kind, sentences in lexicon.examples["notice"].items() for s in sentences]
        rows += [(s, "not a notice") for s in lexicon.examples["not_notice"]]
        for sentence, judged in rows:
            cell = sentence.replace("|", "\\|")
            lines.append(f"| {lexicon.name} (`{lexicon.language}`) | {cell} | {judged} |")
    return "\n".join(lines)
