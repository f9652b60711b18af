"""Usage preferences a publisher states for fetched content: IETF AIPREF ``Content-Usage`` and ``Content-Signal``.

**IETF AIPREF** (draft-ietf-aipref-vocab, draft-ietf-aipref-attach): a vocabulary of categories of use, each
allowed (``y``) or disallowed (``n``), serialised as a Structured Field Dictionary (RFC 9651) and attached

- as the ``Content-Usage`` HTTP response header (it applies to that response's content), and
- as ``Content-Usage: [path] prefs`` rules in robots.txt groups, matched like Allow/Disallow (the longest
  matching path wins; rules with the same path are combined; a line without a path applies to every path).

Categories nest (vocab section 4): automated processing contains AI training (which contains generative AI
training) and search. A category without an explicit preference takes its parent's (vocab section 5/7), so
``all=n, search=y`` allows search only. Several statements (robots.txt and the header) are combined per
category, the most restrictive winning: any ``n`` disallows, else any ``y`` allows, else *unknown* (vocab
"Combining Preferences"). Neither layer overrides the other. Unknown labels, parameters and values other than
the tokens ``y``/``n`` express nothing; an unparseable value expresses nothing at all: both are recorded in
``ignored`` so the evidence shows what the publisher wrote.

**Content Signals** (contentsignals.org, robots.txt only): ``Content-Signal: search=yes, ai-input=no,
ai-train=no`` inside a user-agent group; a signal that is absent grants nothing and denies nothing. Its
``ai-train`` is AIPREF's AI training, ``search`` is search, ``ai-input`` (content used as input to an AI answer)
has no AIPREF label and is kept as its own category under automated processing. An optional leading path is
read as for Content-Usage.

Group selection follows RFC 9309: the groups naming our product token (merged), else the ``*`` groups. Lines
outside any group are ignored (and recorded).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import http_sfv

from feedvault.permission import tdmrep

Pref = str  # "y" (allowed) or "n" (disallowed)

#: Every category we track -> the category it is a proper subset of (None: the root).
CATEGORY_PARENT: Mapping[str, str | None] = {
    "automated-processing": None,
    "train-ai": "automated-processing",
    "train-genai": "train-ai",
    "search": "automated-processing",
    "ai-input": "automated-processing",
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_PARENT)

#: AIPREF labels (vocab "Usage Category Labels") -> category. Automated processing was labelled ``all`` and, in
#: later revisions, ``bots``: both are read.
AIPREF_LABELS: Mapping[str, str] = {
    "all": "automated-processing",
    "bots": "automated-processing",
    "train-ai": "train-ai",
    "train-genai": "train-genai",
    "search": "search",
}
#: Content Signals keys -> category; their values are ``yes``/``no``.
CONTENT_SIGNAL_KEYS: Mapping[str, str] = {"search": "search", "ai-train": "train-ai", "ai-input": "ai-input"}
_SIGNAL_VALUES = {"yes": "y", "no": "n"}

CONTENT_USAGE = "content-usage"
CONTENT_SIGNAL = "content-signal"
_RULE_FIELDS = {"content-usage": CONTENT_USAGE, "content-signal": CONTENT_SIGNAL}
_GROUP_BREAKING_SITE_WIDE = frozenset({"sitemap", "host"})  # site-wide lines do not end a run of user-agents
_SPACE = re.compile(r"[ \t]")


@dataclass(frozen=True)
class Statement:
    """One statement of preference as found: its form, where, the value as written and what it expresses."""

    form: str  # content-usage | content-signal
    source: str  # robots | header
    value: str
    prefs: Mapping[str, Pref]  # explicit preferences only, by category
    ignored: tuple[str, ...] = ()  # unknown labels, values that express nothing, parse errors
    path: str | None = None  # the robots.txt rule's path pattern (None: every path)
    line: int | None = None  # the robots.txt line number

    def resolve(self, category: str) -> Pref | None:
        """The category's preference: its own, else its parent's, recursively (vocab "Consulting")."""
        current: str | None = category
        while current is not None:
            if current in self.prefs:
                return self.prefs[current]
            current = CATEGORY_PARENT[current]
        return None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"form": self.form, "source": self.source, "value": self.value}
        if self.path is not None:
            data["path"] = self.path
        if self.line is not None:
            data["line"] = self.line
        data["prefs"] = dict(self.prefs)
        if self.ignored:
            data["ignored"] = list(self.ignored)
        return data


def parse_content_usage(value: str, source: str, *, path: str | None = None, line: int | None = None) -> Statement:
    """An AIPREF preference expression (a Structured Field Dictionary; case-sensitive, ASCII)."""
    prefs: dict[str, Pref] = {}
    ignored: list[str] = []
    dictionary = http_sfv.Dictionary()
    try:
        dictionary.parse(value.strip().encode("ascii"))
    except (UnicodeEncodeError, ValueError):
        if value.strip():
            ignored.append(f"not a Structured Field Dictionary: {value.strip()[:200]!r}")
        return Statement(CONTENT_USAGE, source, value.strip(), prefs, tuple(ignored), path, line)
    for key, member in dictionary.items():
        category = AIPREF_LABELS.get(key)
        token = getattr(member, "value", None)
        if category is None:
            ignored.append(f"{key}: unknown category")
        elif isinstance(token, http_sfv.Token) and str(token) in ("y", "n"):
            prefs[category] = str(token)
        else:
            ignored.append(f"{key}={_sf_text(member)}: not the token y or n")
    return Statement(CONTENT_USAGE, source, value.strip(), prefs, tuple(ignored), path, line)


def _sf_text(member: Any) -> str:
    try:
        return str(member)
    except Exception:  # pragma: no cover - http-sfv serialises every parsed value
        return "?"


def parse_content_signal(value: str, source: str, *, path: str | None = None, line: int | None = None) -> Statement:
    """A Content Signals expression: comma-separated ``key=yes|no`` (keys and values case-insensitive)."""
    prefs: dict[str, Pref] = {}
    ignored: list[str] = []
    for part in value.split(","):
        item = part.strip()
        if not item:
            continue
        key, equals, raw = (text.strip().lower() for text in item.partition("="))
        category = CONTENT_SIGNAL_KEYS.get(key)
        if not equals:
            ignored.append(f"{item}: not key=value")
        elif category is None:
            ignored.append(f"{key}: unknown signal")
        elif raw not in _SIGNAL_VALUES:
            ignored.append(f"{key}={raw}: not yes or no")
        else:
            prefs[category] = _SIGNAL_VALUES[raw]
    return Statement(CONTENT_SIGNAL, source, value.strip(), prefs, tuple(ignored), path, line)


def header_statement(values: Sequence[str]) -> Statement | None:
    """The ``Content-Usage`` response header(s) as one statement (RFC 9651: field lines are joined with ", ")."""
    if not values:
        return None
    return parse_content_usage(", ".join(v.strip() for v in values), "header")


def combine(statements: Iterable[Statement]) -> dict[str, Pref | None]:
    """Per category: ``n`` if any statement disallows it, else ``y`` if any allows it, else None (unknown)."""
    resolved = [{category: s.resolve(category) for category in CATEGORIES} for s in statements]
    result: dict[str, Pref | None] = {}
    for category in CATEGORIES:
        answers = {r[category] for r in resolved}
        result[category] = "n" if "n" in answers else "y" if "y" in answers else None
    return result


# -- robots.txt ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RobotsRule:
    statement: Statement
    pattern: re.Pattern[str] | None  # None: the rule has no path and applies everywhere
    priority: int  # the path's length: the longest matching path wins, as for Allow/Disallow

    def matches(self, path: str) -> bool:
        return self.pattern is None or bool(self.pattern.match(path))


@dataclass(frozen=True)
class RobotsUsage:
    """The Content-Usage and Content-Signal rules of the robots.txt group(s) that apply to our token."""

    group: str | None  # our token, "*", or None (no group applies)
    rules: tuple[RobotsRule, ...] = ()
    ignored: tuple[str, ...] = field(default=())

    def statements_for(self, url: str) -> list[Statement]:
        """The statements that apply to ``url``: per form, the rules with the longest matching path."""
        path = tdmrep.url_path(url)
        found: list[Statement] = []
        for form in (CONTENT_USAGE, CONTENT_SIGNAL):
            matching = [r for r in self.rules if r.statement.form == form and r.matches(path)]
            if matching:
                best = max(r.priority for r in matching)
                found += [r.statement for r in matching if r.priority == best]
        return found

    def to_evidence(self) -> dict[str, Any]:
        """JSON-ready and stable from run to run (same file, same evidence), for manifests and comparisons."""
        data: dict[str, Any] = {"group": self.group, "rules": [r.statement.to_dict() for r in self.rules]}
        if self.ignored:
            data["ignored"] = list(self.ignored)
        return data


def parse_robots(text: str, token: str) -> RobotsUsage:
    """The usage rules of a robots.txt body for ``token`` (groups as RFC 9309 forms and selects them)."""
    groups: list[tuple[list[str], list[tuple[int, str, str]]]] = []  # (agents, [(line, field, value)])
    ignored: list[str] = []
    in_agents = False  # the previous group line was a user-agent line
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip()
        name, colon, value = line.partition(":")
        if not colon:
            continue
        name, value = name.strip().lower(), value.strip()
        if name in _GROUP_BREAKING_SITE_WIDE:
            continue
        if name in ("user-agent", "useragent"):
            if not in_agents:
                groups.append(([], []))
            groups[-1][0].append(value.lower())
            in_agents = True
            continue
        in_agents = False
        if name in _RULE_FIELDS:
            if not groups:
                ignored.append(f"line {number}: {name} outside any user-agent group")
            else:
                groups[-1][1].append((number, _RULE_FIELDS[name], value))
        elif groups:
            groups[-1][1].append((number, name, value))  # other rules only keep the group going

    wanted = token.lower()
    selected = [g for g in groups if wanted in g[0]]
    group = token if selected else None
    if not selected:
        selected = [g for g in groups if "*" in g[0]]
        group = "*" if selected else None
    rules = []
    for _agents, lines in selected:
        for number, form, value in lines:
            if form in _RULE_FIELDS.values():
                rule = _robots_rule(form, value, number)
                if isinstance(rule, str):
                    ignored.append(rule)
                else:
                    rules.append(rule)
    return RobotsUsage(group, tuple(sorted(rules, key=lambda r: r.statement.line or 0)), tuple(ignored))


def _robots_rule(form: str, value: str, number: int) -> RobotsRule | str:
    """A rule from its value (``[path SP] prefs``, attach draft section 3.2), or why the line is ignored."""
    path: str | None = None
    prefs = value
    if value.startswith("/"):
        parts = _SPACE.split(value, maxsplit=1)
        path, prefs = parts[0], parts[1].strip() if len(parts) > 1 else ""
        if not prefs:
            return f"line {number}: {form} {value!r} has a path but no preferences"
    parse = parse_content_usage if form == CONTENT_USAGE else parse_content_signal
    statement = parse(prefs, "robots", path=path, line=number)
    pattern = tdmrep.compile_location(path) if path else None
    return RobotsRule(statement, pattern, len(path) if path else 0)
