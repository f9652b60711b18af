"""The usage preferences that travel with every snapshot: one normalised ``usage`` field, and what it decides.

Every clean record (and the WARC metadata record, the catalog, the API and the exports) carries the page's
effective usage preferences at capture time, from every machine-readable or plain-language statement found:

- IETF AIPREF ``Content-Usage`` (robots.txt rule and response header) and robots.txt ``Content-Signal``
  (:mod:`feedvault.permission.aipref`);
- TDMRep: ``tdm-reservation: 1`` is ``tdm: reserved`` and disallows AI training and AI input (text and data
  mining for AI); ``0`` is ``tdm: not-reserved`` and allows nothing more. It is not read as all automated
  processing disallowed, which would also disallow search: the ``tdm`` key carries the reservation as such;
- the ``noai`` robots directive and plain-language AI reservations: AI training and AI input disallowed.

Each becomes a statement over the same categories (:data:`feedvault.permission.aipref.CATEGORIES`); they are combined as
the AIPREF vocabulary says (the most restrictive wins, a more specific category overrides its parent), so the
field reads the same whichever form the publisher used. The field is flat (category -> ``y``/``n``/null, plus
``tdm``, ``source`` and ``ignored``) so that columnar exports (Parquet, a WACZ's pages index) can carry it as
columns::

    {"schema": "feedvault.usage/1", "automated-processing": null, "train-ai": "n", "train-genai": "n",
     "search": "y", "ai-input": "n", "tdm": null,
     "source": [{"signal": "content-signal", "source": "robots", "value": "search=yes, ai-train=no", ...}],
     "ignored": []}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from feedvault.config import Signal
from feedvault.permission.aipref import CATEGORIES, Statement, combine
from feedvault.permission.decisions import Finding

USAGE_SCHEMA = "feedvault.usage/1"
#: What other signals say in the vocabulary's terms (a signal not listed states no usage preference).
_SIGNAL_PREFS: Mapping[str, Mapping[str, str]] = {
    str(Signal.NOAI): {"train-ai": "n", "ai-input": "n"},
    str(Signal.RIGHTS_NOTICE): {"train-ai": "n", "ai-input": "n"},
}
_TDM_RESERVED: Mapping[str, str] = {"train-ai": "n", "ai-input": "n"}
TRAINING = ("train-ai", "train-genai")


# -- findings for the decision table ---------------------------------------------------------------------
def _where(statement: Statement) -> str:
    if statement.source == "header":
        return "Content-Usage header"
    label = "Content-Usage" if statement.form == "content-usage" else "Content-Signal"
    return f"robots.txt line {statement.line} ({label})"


def _first(statements: Sequence[Statement], category: str, pref: str) -> Statement | None:
    return next((s for s in statements if s.resolve(category) == pref), None)


def usage_findings(statements: Sequence[Statement]) -> list[Finding]:
    """The decision-table signals the page's AIPREF / Content Signals statements raise (none when unstated).

    - ``no-automated-processing``: automated processing (text and data mining, analysis) is disallowed;
    - ``no-ai-training``: AI training (or generative AI training) is disallowed;
    - ``search-only``: search is allowed and every AI use stated is not (AI training, and AI input or all
      automated processing).
    """
    effective = combine(statements)
    findings = []

    def finding(signal: Signal, category: str, pref: str) -> None:
        statement = _first(statements, category, pref)
        assert statement is not None
        details = {"form": statement.form, "category": category}
        findings.append(Finding(signal, statement.source, _where(statement), statement.value, details))

    if effective["automated-processing"] == "n":
        finding(Signal.NO_AUTOMATED_PROCESSING, "automated-processing", "n")
    training = next((c for c in TRAINING if effective[c] == "n"), None)
    if training is not None:
        finding(Signal.NO_AI_TRAINING, training, "n")
    ai_use_denied = effective["ai-input"] == "n" or effective["automated-processing"] == "n"
    if effective["search"] == "y" and effective["train-ai"] == "n" and ai_use_denied:
        finding(Signal.SEARCH_ONLY, "search", "y")
    return findings


# -- the usage field ---------------------------------------------------------------------------------------
def _signal_statements(signals: Iterable[Mapping[str, Any]], tdm: Mapping[str, Any] | None) -> list[Statement]:
    """Statements, in the vocabulary's terms, of the non-AIPREF signals found for a page (judged findings)."""
    statements = []
    seen: set[tuple[str, str]] = set()
    for found in signals:
        prefs = _SIGNAL_PREFS.get(str(found.get("signal")))
        key = (str(found.get("signal")), str(found.get("value")))
        if prefs and key not in seen:
            seen.add(key)
            statements.append(Statement(key[0], str(found.get("source")), key[1], prefs))
    if tdm and tdm.get("reservation") == 1:
        statements.append(Statement(str(Signal.TDMREP), str(tdm.get("source")), "1", _TDM_RESERVED))
    return statements


def usage_field(
    statements: Sequence[Statement], signals: Iterable[Mapping[str, Any]], tdm: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The normalised usage preferences of one page (see the module docstring)."""
    everything = [*statements, *_signal_statements(signals, tdm)]
    effective = combine(everything)
    reservation = (tdm or {}).get("reservation")
    sources = []
    for statement in everything:
        entry = statement.to_dict()
        entry["signal"] = entry.pop("form")
        entry.pop("ignored", None)
        sources.append(entry)
    return {
        "schema": USAGE_SCHEMA,
        **{category: effective[category] for category in CATEGORIES},
        "tdm": "reserved" if reservation == 1 else "not-reserved" if reservation == 0 else None,
        "source": sources,
        "ignored": [
            {"signal": s.form, "source": s.source, "value": s.value, "why": why}
            for s in statements
            for why in s.ignored
        ],
    }


def usage_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """A clean record's usage field; for records archived before it existed, derived from their permission
    evidence (TDMRep, ``noai``, notices: what was known then)."""
    usage = record.get("usage")
    if isinstance(usage, dict):
        return usage
    permission = record.get("permission") or {}
    return usage_field([], permission.get("signals") or [], permission.get("tdmrep"))


def training_reserved_by(usage: Mapping[str, Any]) -> list[str]:
    """The signals through which the publisher reserved AI training (empty: not reserved, or unknown)."""
    if all(usage.get(category) != "n" for category in TRAINING):
        return []
    reasons = []
    for source in usage.get("source") or []:
        statement = Statement(source.get("signal", "?"), source.get("source", "?"), "", source.get("prefs") or {})
        if any(statement.resolve(category) == "n" for category in TRAINING) and statement.form not in reasons:
            reasons.append(statement.form)
    return reasons or ["usage"]


def compact(usage: Mapping[str, Any]) -> dict[str, str]:
    """Only the stated categories (and ``tdm``): small enough for every manifest outcome, and comparable."""
    return {k: v for k in (*CATEGORIES, "tdm") if (v := usage.get(k)) is not None}


def describe(usage: Mapping[str, Any]) -> str:
    """One line for people: the stated preferences and where they came from, e.g.
    ``train-ai n, train-genai n, search y (content-signal robots)``."""
    stated = compact(usage)
    if not stated:
        return "none stated"
    where = ", ".join(dict.fromkeys(f"{s.get('signal')} {s.get('source')}" for s in usage.get("source") or []))
    return ", ".join(f"{k} {v}" for k, v in stated.items()) + (f" ({where})" if where else "")
