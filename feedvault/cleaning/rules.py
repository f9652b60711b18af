"""Line rules applied to trafilatura's text: drop boilerplate lines, record rights reservations.

Built-in rules are data (``feedvault/rules/<language>.yaml``); per-feed rules come from ``CleaningRules``.
Rules see one stripped line at a time and the first matching rule wins: per-feed rules first, then the
built-in rules of the page's language, then the other built-in rule sets.

Every removal is recorded as a :class:`RemovedLine`: the text removed, the boilerplate ``family`` it belongs
to, the ``rule`` id that matched and the ``reason`` (how it was recognised; see :data:`REMOVAL_REASONS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml

from feedvault.cleaning.literals import NeedleIndex, Needles, needles
from feedvault.config import CleaningRules

if TYPE_CHECKING:
    from lxml.html import HtmlElement

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

Action = Literal["drop", "rights"]
RightsKind = Literal["ai-reservation", "rights-notice", "copyright"]
#: Boilerplate families of the built-in rules (``family:`` of each rule in ``feedvault/rules/*.yaml``).
FAMILIES: dict[str, str] = {
    "related": "related-content labels and their links (Baca juga, Lihat juga, Read more, Related:)",
    "promo": "promotion lines: channels, newsletters, apps, 'klik di sini'",
    "embed": "embed and interstitial placeholders: [Gambas:...], ADVERTISEMENT, separators",
    "credits": "sign-offs, credits and sources: reporter/editor lines, editor initials, agency sign-offs",
    "rights": "copyright lines and rights notices (AI/TDM reservations included)",
    "headline": "the article's title repeated as the first line of its text",
    "feed": "a pattern from the feed's own cleaning rules",
    "learned": "a line recurring across the feed's articles (per-feed fingerprints)",
}
#: Why a line was removed. ``builtin-rule``/``feed-rule``: a line rule matched; ``notice``: the rights-notice
#: detector (feedvault.permission.decisions) judged the sentence a notice; ``repeated-in-feed``: the line recurs across
#: the feed's articles (family ``learned``).
REMOVAL_REASONS = ("builtin-rule", "feed-rule", "notice", "repeated-in-feed")
RemovalReason = Literal["builtin-rule", "feed-rule", "notice", "repeated-in-feed"]

# Where a rule with ``tail: true`` may start inside a line: after a sentence end.
_SENTENCE_END = re.compile(r"(?<=[.!?…\"”’)\]])\s+")
# Classifies lines caught by per-feed rights patterns, which carry no kind of their own.
_AI_HINT = re.compile(
    r"(?i)\b(?:AI|artificial\s+intelligence|kecerdasan\s+buatan|machine\s+learning|crawl\w*|scrap\w*"
    r"|pengindeksan\s+otomatis|(?:text\s+and\s+)?data\s+mining|penambangan\s+(?:teks|data)|LLMs?)\b"
)


@dataclass(frozen=True)
class Rule:
    id: str
    pattern: re.Pattern[str]
    action: Action
    kind: RightsKind | None = None  # for action "rights"; None: classify the matched line
    tail: bool = False  # may also match the end of a line, after a sentence end
    family: str = "feed"  # a key of FAMILIES
    prefilter: re.Pattern[str] | None = field(init=False, repr=False, compare=False)  # see _prefilter
    max_length: int | None = field(init=False, repr=False, compare=False)  # see _max_length
    needles: Needles | None = field(init=False, repr=False, compare=False)  # see literals.needles

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefilter", _prefilter(self.pattern))
        object.__setattr__(self, "max_length", _max_length(self.pattern))
        object.__setattr__(self, "needles", needles(self.pattern))


@dataclass(frozen=True)
class RemovedLine:
    """One removal: ``line`` (the text removed), its ``family`` (:data:`FAMILIES`), the ``rule`` id and the
    ``reason`` (:data:`REMOVAL_REASONS`). Stored in clean records as ``{"line", "rule", "family", "reason"}``;
    records written before families existed lack the last two (read back as ``""``)."""

    line: str
    rule: str
    family: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"line": self.line, "rule": self.rule, "family": self.family, "reason": self.reason}


@dataclass(frozen=True)
class RightsReservation:
    kind: RightsKind
    text: str
    rule: str


def _parse_rule(raw: Any, source: Path) -> Rule:
    if not isinstance(raw, dict) or not {"id", "action", "pattern"} <= raw.keys():
        raise ValueError(f"{source}: each rule needs id, action and pattern: {raw!r}")
    rule_id, action, kind, family = raw["id"], raw["action"], raw.get("kind"), raw.get("family")
    if family not in FAMILIES:
        raise ValueError(f"{source}: {rule_id}: family must be one of {sorted(FAMILIES)}, not {family!r}")
    if action not in get_args(Action):
        raise ValueError(f"{source}: {rule_id}: unknown action {action!r}")
    if (action == "rights") != (kind is not None) or (kind is not None and kind not in get_args(RightsKind)):
        raise ValueError(f"{source}: {rule_id}: action 'rights' needs a kind from {get_args(RightsKind)}")
    try:
        pattern = re.compile(raw["pattern"])
    except re.error as exc:
        raise ValueError(f"{source}: {rule_id}: invalid pattern: {exc}") from exc
    return Rule(rule_id, pattern, action, kind, bool(raw.get("tail", False)), family)


@lru_cache(maxsize=4)
def builtin_rules(rules_dir: Path = RULES_DIR) -> dict[str, tuple[Rule, ...]]:
    """Built-in rule sets by language, loaded once per process."""
    sets: dict[str, tuple[Rule, ...]] = {}
    for path in sorted(rules_dir.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        sets[str(data.get("language") or path.stem)] = tuple(_parse_rule(r, path) for r in data.get("rules", ()))
    return sets


@lru_cache(maxsize=256)
def compile_rules(rules: CleaningRules, language: str | None = None) -> tuple[Rule, ...]:
    """The ordered rules for one feed configuration and page language (cached: both are hashable)."""
    compiled = [Rule(f"feed.drop.{i}", re.compile(p), "drop") for i, p in enumerate(rules.drop_patterns, 1)]
    compiled += [Rule(f"feed.rights.{i}", re.compile(p), "rights") for i, p in enumerate(rules.rights_patterns, 1)]
    if rules.builtin:
        sets = builtin_rules()
        for lang in sorted(sets, key=lambda lang: (lang != language, lang)):
            compiled += sets[lang]
    return tuple(compiled)


_HEAD = re.compile(r"(?:\(\?[aiLmsux]+\))*\^?")  # global inline flags, then an optional start anchor


def _compiles(source: str, flags: int) -> bool:
    try:
        re.compile(source, flags)
    except re.error:
        return False
    return True


def _group_end(source: str, start: int, flags: int) -> int | None:
    """End of the group opening at ``start``: after the ")" where both the group and its content compile.

    Cut before the group's own ")", the group is unterminated; cut after it, the content has an unbalanced ")".
    """
    for end in range(start + 3, len(source)):
        if (
            source[end] == ")"
            and _compiles(source[start : end + 1], flags)
            and _compiles(source[start + 3 : end], flags)
        ):
            return end + 1
    return None


@lru_cache(maxsize=1024)
def _prefilter(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """``pattern`` without the lookarounds that open it (``^(?=A)(?!B)rest`` gives ``^rest``), else None.

    Opening lookarounds only test the position where the rest must match, so a line this rejects cannot match
    ``pattern``. That saves most of the rules' cost: the built-in rights rules open with lookaheads scanning the
    whole line, and nearly every line fails their rest at its first word. Not for patterns with groups (a
    backreference may need a group set in a lookaround), nor for a quantified lookaround (the rest would then
    start with a quantifier, which does not compile).
    """
    source, flags = pattern.pattern, pattern.flags
    head = _HEAD.match(source)
    start = pos = head.end() if head else 0
    while pattern.groups == 0 and source.startswith(("(?=", "(?!"), pos) and (end := _group_end(source, pos, flags)):
        pos = end
    if pos == start or not _compiles(source[:start] + source[pos:], flags):
        return None
    return re.compile(source[:start] + source[pos:], flags)


_LENGTH_CAP = re.compile(r"(?:\(\?[aiLmsux]+\))*\^\(\?=\.\{0,(\d+)\}\$\)")


def _max_length(pattern: re.Pattern[str]) -> int | None:
    """N when ``pattern`` opens with ``^(?=.{0,N}$)`` (and is not multi-line): it cannot match a longer text, so a
    length comparison saves the regex its scan of every longer line (most article paragraphs)."""
    found = _LENGTH_CAP.match(pattern.pattern)
    return int(found.group(1)) if found and not pattern.flags & re.MULTILINE else None


# Per rule set (by identity; the entry keeps the set alive, so its id is not reused while cached): its needle index,
# and for each mask its rules and tail rules in order.
_INDEXES: dict[int, tuple[Sequence[Rule], NeedleIndex, dict[int, tuple[tuple[Rule, ...], tuple[Rule, ...]]]]] = {}


def _indexed(rules: Sequence[Rule]) -> tuple[NeedleIndex, dict[int, tuple[tuple[Rule, ...], tuple[Rule, ...]]]]:
    hit = _INDEXES.get(id(rules))
    if hit is not None and hit[0] is rules:
        return hit[1], hit[2]
    index, subsets = NeedleIndex.of([rule.needles.found if rule.needles else None for rule in rules]), {}
    if isinstance(rules, tuple):  # compile_rules' tuples are cached; a list may change, so it is not
        if len(_INDEXES) >= 256:
            _INDEXES.clear()
        _INDEXES[id(rules)] = (rules, index, subsets)
    return index, subsets


def _subset(
    rules: Sequence[Rule], mask: int, subsets: dict[int, tuple[tuple[Rule, ...], tuple[Rule, ...]]]
) -> tuple[tuple[Rule, ...], tuple[Rule, ...]]:
    """The rules of ``mask`` in their order, and the tail rules among them (cached per mask: few recur)."""
    found = subsets.get(mask)
    if found is None:
        active = tuple(rule for i, rule in enumerate(rules) if mask >> i & 1)
        found = subsets[mask] = (active, tuple(rule for rule in active if rule.tail))
    return found


def _tries(rule: Rule, text: str) -> bool:
    if rule.max_length is not None and len(text) > rule.max_length:
        return False
    return (rule.prefilter is None or rule.prefilter.search(text) is not None) and rule.pattern.search(text) is not None


def _match(line: str, rules: Sequence[Rule], tail_rules: Sequence[Rule]) -> tuple[Rule, str, str] | None:
    """First rule matching the whole line, else the first ``tail`` rule matching its end: (rule, kept, removed)."""
    for rule in rules:
        if _tries(rule, line):
            return rule, "", line
    if tail_rules:
        for cut in _SENTENCE_END.finditer(line):
            rest = line[cut.end() :]
            for rule in tail_rules:
                if _tries(rule, rest):
                    return rule, line[: cut.start()], rest
    return None


def labelled_links(tree: HtmlElement, rules: Sequence[Rule]) -> list[str]:
    """Texts of the links a ``tail`` rule's bare label introduces (``Baca juga: <a>Headline</a>``), longest first.

    In trafilatura's text a read-also headline and the article sentence after it in the same paragraph are
    indistinguishable; the HTML tells where the link ends.
    """
    tail_rules = [rule for rule in rules if rule.tail]
    found: set[str] = set()
    for link in tree.iter("a"):
        previous, parent = link.getprevious(), link.getparent()
        if previous is None:
            before = parent.text if parent is not None else None
        elif (previous.tail or "").strip():
            before = previous.tail
        else:  # <strong>Baca juga:</strong> <a>..</a>
            before = previous.text_content()
        label = " ".join(before.split()) if before else ""
        if label and _match(label, tail_rules, tail_rules) and (text := " ".join(link.text_content().split())):
            found.add(text)
    return sorted(found, key=len, reverse=True)


def _split_after_link(rule: Rule, cut: str, links: Sequence[str]) -> tuple[str, str]:
    """``cut`` as (boilerplate, article text after it) when a labelled link ends before the line does."""
    for link in links:
        at = cut.find(link)
        end = at + len(link)
        if at > 0 and cut[end:].strip() and rule.pattern.search(cut[:at].strip()):
            return cut[:end], cut[end:].strip()
    return cut, ""


def drop_headline(
    text: str, title: str | None, tree: HtmlElement | None = None, h1: Sequence[HtmlElement] | None = None
) -> tuple[str, list[RemovedLine]]:
    """The text without its first line when that line is the article's headline: the page's title, or with the
    page's tree the text of an ``<h1>`` (the headline is metadata, not body). A line that is also the text of a
    paragraph stays: an article whose first sentence is its title keeps that sentence. ``h1``: the tree's
    ``<h1>`` elements, if the caller has them."""
    first, _, rest = text.partition("\n")
    line = " ".join(first.split()).casefold()
    if not line:
        return text, []
    is_title = bool(title) and line == " ".join((title or "").split()).casefold()
    if tree is not None:
        headings = tree.iter("h1") if h1 is None else h1
        in_h1 = any(" ".join(e.text_content().split()).casefold() == line for e in headings)
        # the costly walks only for a first line that is a heading (most are not)
        is_title = (
            (in_h1 or (is_title and _is_heading(tree, line)))
            and not any(" ".join(e.text_content().split()).casefold() == line for e in tree.iter("p"))
        )  # fmt: skip
    if not is_title:
        return text, []
    return rest.lstrip("\n"), [RemovedLine(first.strip(), "headline", "headline", "builtin-rule")]


def _is_heading(tree: HtmlElement, line: str) -> bool:
    return any(" ".join(e.text_content().split()).casefold() == line for e in tree.iter("h2", "h3"))


def apply_notices(text: str) -> tuple[str, list[RemovedLine], list[RightsReservation]]:
    """Remove the rights notices the notice detector (feedvault.permission.notices) finds, sentence by sentence: family
    ``rights``, reason ``notice``; each reservation carries its sentence."""
    from feedvault.permission.notices import cut_notices

    kept, cut, notices = cut_notices(text)
    removed = [RemovedLine(piece, rule, "rights", "notice") for piece, rule in cut]
    return kept, removed, [RightsReservation(n.kind, n.sentence, n.rule) for n in notices]  # type: ignore[arg-type]


def apply_rules(
    text: str, rules: Sequence[Rule], link_texts: Callable[[], Sequence[str]] | None = None
) -> tuple[str, list[RemovedLine], list[RightsReservation]]:
    """Remove matching lines (or line ends); returns the kept text, removed lines and rights reservations.

    ``link_texts`` (see :func:`labelled_links`, called at most once) lets a ``tail`` rule's match stop where
    its link ends, so article text after an inline read-also link in the same paragraph is kept.
    """
    kept: list[str] = []
    removed: list[RemovedLine] = []
    reservations: list[RightsReservation] = []
    index, subsets = _indexed(rules)
    links = cache(link_texts) if link_texts is not None else None
    lines = text.splitlines()
    for line, mask in zip(lines, index.line_masks(text, lines), strict=True):
        stripped = line.strip()
        active, tails = _subset(rules, mask, subsets) if mask and stripped else ((), ())
        found = _match(stripped, active, tails) if active else None
        if found is None:
            kept.append(line)
            continue
        parts = []
        while found is not None:
            rule, rest, cut = found
            after = ""
            if rule.tail and links is not None:
                cut, after = _split_after_link(rule, cut, links())
            if rest:
                parts.append(rest)
            reason = "feed-rule" if rule.family == "feed" else "builtin-rule"
            removed.append(RemovedLine(cut, rule.id, rule.family, reason))
            if rule.action == "rights":
                kind = rule.kind or ("ai-reservation" if _AI_HINT.search(cut) else "rights-notice")
                reservations.append(RightsReservation(kind, cut, rule.id))
            found = _match(after, active, tails) if after else None
            if found is None and after:
                parts.append(after)
        if parts:
            kept.append(" ".join(parts))
    return "\n".join(kept), removed, reservations
